"""``python -m imageworks.proxy``: the same as ``imageworks-chat-proxy``."""

from imageworks.proxy.launcher import console_main

console_main()
