"""The onboarding assistant (issue 37): a GPT fine-tuned into a bot that answers first-years' questions about a
fictional college, and declines what it must. ``handbook.py`` writes the data, ``scrub.py`` removes personal
records from it, ``chat.py`` is the conversation format."""
