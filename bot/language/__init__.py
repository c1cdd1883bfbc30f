"""Every reader and writer of customers' Chinese outside the statistical model (SPEC.md sections 2-4).

One package, so that ``POST /model/parse``, ``make eval`` and the dialogue see the same readings:

* :mod:`normalize`: the one normaliser (Traditional -> Simplified, widths, fillers, emoticon codes);
* :mod:`numbers`: the one number reader (amounts "2千", "1.5w", "三百块"; spoken digit strings);
* :mod:`entities`: order and tracking numbers, phones, amounts, times, couriers, goods (spaCy rules);
* :mod:`urgency`: negation-aware urgency triggers;
* :mod:`causes`: the complaint cause (second level under the type) and the secondary type;
* :mod:`intent_rules`: domain rules over the classifier's intent;
* :mod:`replies`: answers to the bot's questions (choices, wishes, amounts, agreement, photos,
  "不知道", disputes, 1-5 scores);
* :mod:`restate`: the one-sentence restatement in the agent's words.

Nothing here imports Rasa; ``bot.nlu.components`` wraps these modules as Rasa graph components.
"""
