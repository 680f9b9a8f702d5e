"""`flux seed-demo` on a fresh SQLite database: a realistic, linked dataset, and never in production."""
import sqlite3

from helpers import STRONG_SECRET, clean_env, run_flux


def test_seed_demo_fills_a_linked_realistic_dataset(workdir):
    result = run_flux(["seed-demo", "--conversations", "600", "--days", "20"], clean_env(), workdir)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "600 conversations" in result.stdout and "event ingest:" in result.stdout

    with sqlite3.connect(workdir / "data" / "flux.sqlite") as db:
        one = lambda query: db.execute(query).fetchone()[0]
        assert one("SELECT count(*) FROM ai_conversations") == 600
        assert {row[0] for row in db.execute('SELECT DISTINCT locale FROM ai_conversations')} == {"it", "en", "es", "fr", "de"}
        assert {row[0] for row in db.execute('SELECT DISTINCT "funnelStage" FROM ai_conversations')} == {
            "DISCOVERY", "QUALIFY", "RECOMMEND", "HANDOFF"}
        assert {row[0] for row in db.execute('SELECT DISTINCT outcome FROM ai_conversations')} >= {"CONSULTATION", "ABANDONED"}
        assert {row[0] for row in db.execute('SELECT DISTINCT "industryLabel" FROM ai_conversations')} == {
            None, "textile", "food", "rubber", "pharma", "wood"}
        # Every converted chat points at its ticket and the ticket back at the chat.
        assert one('''SELECT count(*) FROM ai_conversations c JOIN operations_signals s
                       ON s.id = c."signalId" AND s.session_id = c."sessionId" WHERE c.outcome = 'CONSULTATION' ''') \
            == one("SELECT count(*) FROM ai_conversations WHERE outcome = 'CONSULTATION'") > 0
        assert one("SELECT count(*) FROM ai_conversations WHERE outcome != 'OPEN' AND \"closedAt\" IS NULL") == 0
        # Counters agree with the events they count.
        assert one('''SELECT count(*) FROM ai_conversations c WHERE c."messageCount" !=
                       (SELECT count(*) FROM ai_events e WHERE e."conversationId" = c.id AND e.type IN ('user_msg', 'ai_msg'))''') == 0
        assert one('''SELECT count(*) FROM ai_conversations c WHERE c."toolCallCount" !=
                       (SELECT count(*) FROM ai_events e WHERE e."conversationId" = c.id AND e.type = 'tool_call')''') == 0
        assert one("SELECT count(*) FROM ai_events WHERE type = 'ai_msg' AND (model IS NULL OR \"tokensIn\" IS NULL)") == 0
        assert one("SELECT count(*) FROM tenants WHERE kind = 'client'") == 6
        assert one("SELECT count(*) FROM users WHERE password_hash IS NOT NULL") == 0
        assert one("SELECT count(*) FROM auth_sessions") == one("SELECT count(*) FROM users")

    again = run_flux(["seed-demo", "--conversations", "50"], clean_env(), workdir)
    assert again.returncode == 0, again.stderr + again.stdout
    with sqlite3.connect(workdir / "data" / "flux.sqlite") as db:
        assert db.execute("SELECT count(*) FROM ai_conversations").fetchone()[0] == 650
        assert db.execute("SELECT count(*) FROM tenants WHERE kind = 'client'").fetchone()[0] == 6


def test_seed_demo_refuses_production_and_bad_sizes(workdir):
    production = run_flux(["seed-demo"], clean_env(FLUX_ENV="production", SESSION_SECRET=STRONG_SECRET,
                                                    PUBLIC_URL="https://www.example.com"), workdir)
    assert production.returncode == 1 and "does not run in production" in production.stdout + production.stderr
    for size in ("0", "-3", "many"):
        bad = run_flux(["seed-demo", "--conversations", size], clean_env(), workdir)
        assert bad.returncode != 0, size
