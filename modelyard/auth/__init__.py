"""Identity and permissions: who makes a request, and what they may do.

Today this holds the seams only: the request context every service call takes, the table of
authenticators the server resolves a principal with (anonymous, and the client's word through basic
auth or the ``X-Modelyard-User`` header), and the authorizer every route passes through, which
allows everything. The authentication issue fills them with real users, tokens and permissions.
"""
