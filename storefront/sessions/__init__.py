"""Session engines: Django's own, writing an existing session in one statement.

``SESSION_ENGINE`` is ``storefront.sessions.db``, or ``storefront.sessions.cached_db``
when Redis is configured.
"""
