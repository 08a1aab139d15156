"""A third-party crosspost platform, for the tests: a noticeboard with a JSON API."""
