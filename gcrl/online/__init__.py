"""The online side: environments for online use, replay, the world model, actor-critic in imagination, and their loop."""
