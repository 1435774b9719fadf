"""Helpers shared by BlogDQN and the tools around it (wrappers, buffer, optimizer, plots)."""
