"""Redis stores: tickets, the handoff queue, the REST outbox, the tracker store."""
