"""Leaderboard: a server that verifies submitted results by recomputation and replay, and ranks them."""
