"""The small core: hook contract, plugin manager, value types, registry, naming, config.

Nothing in here imports click or streamlit; front ends (CLI, GUI) sit on top of it.
"""
