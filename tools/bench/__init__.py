"""Speed benchmark: our complaint bot side by side with Rasa's starter bot (``make bench``).

Both bots run the same way: a real ``redis-server`` (tracker store *and* lock store, one
database each), ``SANIC_WORKERS`` Sanic workers, the REST channel driven over HTTP with
aiohttp. Our bot also gets its action server; the starter bot (``rasa init``, cached in
``var/bench/starter``) needs none. The bots are measured one after the other, so they never
compete for the CPU. For each bot:

1. model load: ``rasa run`` start until ``/status`` answers with a model, until every
   worker logged "Rasa server is up and running", and until the first REST reply;
2. warm-up (concurrent, so every worker has answered before anything is measured);
3. where the time goes: ``POST /model/parse`` (NLU only) against full REST turns, one
   request at a time, with the CPU time each process used per turn;
4. saturation: N conversations, each sending its next message as soon as the reply came;
5. fixed offered load: open loop at ``--rate`` turns/s, latency counted from the scheduled
   send time (no coordinated omission), never two requests in flight for one conversation;
6. long conversations: turn 1 against turn 50 (repeated, medians);
7. memory of the Rasa server process tree (main process + workers) after the load.

Writes ``reports/bench.md`` and ``reports/bench.json`` and prints the table. Exit code 0 even
when a target is missed (it is a report); non-zero only when the benchmark itself failed.

Usage: python -m tools.bench [--quick] [--duration S] [--rate R] [--workers N] [--skip-starter]

The modules, in the order a run uses them:

* ``settings``: paths, targets, the conversations each bot is sent;
* ``stacks``: starting the two bots (and provisioning the starter bot);
* ``load``: the HTTP load generator (closed loop, open loop);
* ``phases``: the measured phases of one bot, from the first reply to the long conversations;
* ``procstats``: CPU time and memory of process trees (psutil);
* ``stats``: percentiles and latency summaries;
* ``targets`` and ``report``: the verdicts and ``reports/bench.md``;
* ``__main__``: the command line.
"""
