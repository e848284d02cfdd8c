"""The chat proxy: one OpenAI-compatible endpoint in front of every server the registry knows.

A front end, like the CLI and the GUI: it opens the registry through
:func:`imageworks.app.open_registry` and uses the core's rules (which variants are
listed, where each is served, which variant a role name means). ``settings.py`` reads the
``CHAT_PROXY_*`` variables, ``catalog.py`` builds ``/v1/models``, ``forwarding.py``
sends a request on and streams the answer back, ``app.py`` is the Starlette app and
``launcher.py`` the ``imageworks-chat-proxy`` console script. See ``docs/serving.md``.
"""
