"""The leaderboard: submissions under results/, their validation, reported rows, the site."""


class SubmissionError(ValueError):
    """A submission that the leaderboard refuses; the message names the file and the field."""
