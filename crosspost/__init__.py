"""crosspost: write a post once, publish it on time to Twitter/X, Facebook and VK."""

__version__ = "0.1.0"
