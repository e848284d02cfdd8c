"""Use cases built on the kernel (``imageworks.core``), one package per area.

Front ends (cli/, gui/, proxy/) call these; these call the kernel. Areas: acquire,
maintain, serve, listing, memory, share.
"""
