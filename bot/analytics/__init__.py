"""Complaint analytics (SPEC.md section 7): the heat map, SLA breaches, repeat complainants,
satisfaction, settlement and early warnings that the agents' dashboard shows.

Layers, each plain Python without Rasa imports:

- :mod:`bot.analytics.facts` - the compact projection of a ticket (``ticket_facts``) that the
  ticket store keeps beside every ticket (``P:facts``) and returns with ``TicketStore.all_facts``;
- :mod:`bot.analytics.reports` - pure functions over a list of those projections;
- :mod:`bot.analytics.labels` - the Chinese words for ids (``policy/labels.yml``, causes, categories);
- :mod:`bot.analytics.charts` - server-side SVG charts (matplotlib, object-oriented API);
- :mod:`bot.analytics.export` - CSV for Excel (UTF-8 with a byte-order mark).
"""
