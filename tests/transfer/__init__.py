"""Tests of the transfer engines and the loopback Hub they run against."""
