"""The leaderboard: submissions under results/, their validation, reported rows, the site."""
