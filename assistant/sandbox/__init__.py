"""A local server that speaks enough of the Gmail REST API v1 for the assistant.

It backs the demo and the tests, and lets a user try the assistant on a Gmail
Takeout export before granting any Google access. It binds to loopback only.
"""
