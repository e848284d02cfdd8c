"""Acquire: route, transfer, detect and record a model; README, licence and chat-template capture."""
