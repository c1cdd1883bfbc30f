"""Domain logic of the complaint bot: plain Python, no Rasa imports outside `bot.nlu.components` and `bot.channels`."""
