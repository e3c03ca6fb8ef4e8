"""What every HTTP app of modelyard shares (the tracking API, the artifact proxy, the web UI, the
scoring server): the request-context middleware, the error renderers, route protection and file
downloads. Neither ``server`` nor ``ui`` nor ``serving``: each of them imports this, never each other.
"""
