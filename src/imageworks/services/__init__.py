"""Use cases, grouped by what a user does: acquire, maintain, serve, listing, memory, share.

Front ends (the CLI, the GUI, the chat proxy) call these; they take an opened
:class:`~imageworks.core.registry.Registry` and never open one. Services import the kernel
(:mod:`imageworks.core`), the transfer engines and the format readers, never a front end.
"""
