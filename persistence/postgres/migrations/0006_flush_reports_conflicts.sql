-- v6: flush() tells conflicts apart by what its statements return, not by the
-- server's error text. An execution insert whose run exists, and an update whose
-- expected version no longer matches, raise KL001 with their 1-based positions in
-- the e_* arrays; a history append whose (run, first event) is taken raises KL002
-- with its positions in the h_* arrays (history is checked by row count first, as it
-- is appended on every flush).
CREATE OR REPLACE FUNCTION {s}.flush(
  e_run TEXT[], e_wid TEXT[], e_type TEXT[], e_queue TEXT[], e_status INT[], e_version BIGINT[],
  e_next BIGINT[], e_wt BIGINT[], e_start BIGINT[], e_close BIGINT[], e_result BYTEA[],
  e_failure BYTEA[], e_wtf BYTEA[], e_prun TEXT[], e_parent BYTEA[], e_children BIGINT[],
  e_expected BIGINT[],
  c_wid TEXT[], c_run TEXT[],
  h_run TEXT[], h_first BIGINT[], h_last BIGINT[], h_data BYTEA[],
  t_insert BOOL[], t_id BIGINT[], t_queue TEXT[], t_kind INT[], t_wid TEXT[], t_run TEXT[],
  t_aid TEXT[], t_attempt INT[], t_visible BIGINT[], t_owner TEXT[], t_token BIGINT[],
  t_expires BIGINT[], t_lease_ms BIGINT[], t_started BIGINT[], t_sdl BIGINT[], t_cdl BIGINT[],
  t_deadline BIGINT[], t_info BYTEA[],
  d_task BIGINT[], d_task_run TEXT[], d_timer_run TEXT[],
  n_channel TEXT, n_notes TEXT[]) RETURNS VOID LANGUAGE plpgsql AS $flush$
DECLARE
  missed INT[];
  h_missed INT[];
  appended BIGINT;
BEGIN
  IF -1 = ANY(e_expected) THEN
    WITH v AS (
      SELECT * FROM unnest(e_run, e_wid, e_type, e_queue, e_status, e_version, e_next, e_wt,
                           e_start, e_close, e_result, e_failure, e_wtf, e_prun, e_parent,
                           e_children, e_expected)
        WITH ORDINALITY AS v(r, w, ty, q, st, ve, ne, wt, sa, cl, re, fa, wf, pr, pa, ch, ex, i)
      WHERE ex < 0),
    ins AS (
      INSERT INTO {s}.executions(run_id, workflow_id, workflow_type, task_queue, status,
          version, next_event_id, wt_task_id, start_time, close_time, result, failure,
          wt_failure, parent_run_id, parent, children)
        SELECT r, w, ty, q, st, ve, ne, wt, sa, cl, re, fa, wf, pr, pa, ch FROM v
        ON CONFLICT DO NOTHING
        RETURNING run_id)
    SELECT array_agg(v.i ORDER BY v.i) INTO missed FROM v
      WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.run_id = v.r);
  END IF;
  IF cardinality(c_wid) > 0 THEN
    INSERT INTO {s}.current_executions(workflow_id, run_id)
      SELECT w, r FROM unnest(c_wid, c_run) AS v(w, r)
      ON CONFLICT (workflow_id) DO UPDATE SET run_id = EXCLUDED.run_id;
  END IF;
  IF cardinality(e_run) > 0 AND NOT e_expected <@ ARRAY[-1]::BIGINT[] THEN
    WITH v AS (
      SELECT * FROM unnest(e_run, e_wid, e_type, e_queue, e_status, e_version, e_next, e_wt,
                           e_start, e_close, e_result, e_failure, e_wtf, e_children, e_expected)
        WITH ORDINALITY AS v(r, w, ty, q, st, ve, ne, wt, sa, cl, re, fa, wf, ch, ex, i)
      WHERE ex >= 0),
    u AS (
      UPDATE {s}.executions x SET workflow_id = v.w, workflow_type = v.ty, task_queue = v.q,
          status = v.st, version = v.ve, next_event_id = v.ne, wt_task_id = v.wt,
          start_time = v.sa, close_time = v.cl, result = v.re, failure = v.fa,
          wt_failure = v.wf, children = v.ch
        FROM v WHERE x.run_id = v.r AND x.version = v.ex
        RETURNING x.run_id)
    SELECT missed || array_agg(v.i ORDER BY v.i) INTO missed FROM v
      WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.run_id = v.r);
  END IF;
  IF cardinality(missed) > 0 THEN
    RAISE EXCEPTION 'keel: conflicting executions at %', missed USING ERRCODE = 'KL001';
  END IF;
  IF cardinality(h_run) > 0 THEN
    INSERT INTO {s}.history(run_id, first_event_id, last_event_id, data)
      SELECT * FROM unnest(h_run, h_first, h_last, h_data)
      ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS appended = ROW_COUNT;
    IF appended < cardinality(h_run) THEN
      -- Rare (the execution's version check comes first): name the appends whose
      -- rows hold other events, or all of them when none does.
      SELECT array_agg(i ORDER BY i) INTO h_missed
        FROM unnest(h_run, h_first, h_last, h_data) WITH ORDINALITY AS v(r, f, l, d, i)
        JOIN {s}.history h ON h.run_id = v.r AND h.first_event_id = v.f
        WHERE h.last_event_id <> v.l OR h.data <> v.d;
      IF h_missed IS NULL THEN
        SELECT array_agg(i) INTO h_missed FROM generate_series(1, cardinality(h_run)) AS i;
      END IF;
      RAISE EXCEPTION 'keel: history already appended at %', h_missed USING ERRCODE = 'KL002';
    END IF;
  END IF;
  IF true = ANY(t_insert) THEN
    INSERT INTO {s}.tasks(id, queue, kind, workflow_id, run_id, activity_id, attempt,
        visible_at, lease_owner, lease_token, lease_expires, lease_ms, started_at,
        start_deadline, close_deadline, deadline, info)
      SELECT id, q, k, w, r, a, at, vi, o, tk, ex, lm, sa, sd, cd, dl, inf
      FROM unnest(t_insert, t_id, t_queue, t_kind, t_wid, t_run, t_aid, t_attempt, t_visible,
                  t_owner, t_token, t_expires, t_lease_ms, t_started, t_sdl, t_cdl, t_deadline,
                  t_info)
        AS v(ins, id, q, k, w, r, a, at, vi, o, tk, ex, lm, sa, sd, cd, dl, inf)
      WHERE ins;
  END IF;
  IF false = ANY(t_insert) THEN
    UPDATE {s}.tasks x SET queue = v.q, kind = v.k, workflow_id = v.w, run_id = v.r,
        activity_id = v.a, attempt = v.at, visible_at = v.vi, lease_owner = v.o,
        lease_token = v.tk, lease_expires = v.ex, lease_ms = v.lm, started_at = v.sa,
        start_deadline = v.sd, close_deadline = v.cd, deadline = v.dl, info = v.inf
      FROM unnest(t_insert, t_id, t_queue, t_kind, t_wid, t_run, t_aid, t_attempt, t_visible,
                  t_owner, t_token, t_expires, t_lease_ms, t_started, t_sdl, t_cdl, t_deadline,
                  t_info)
        AS v(ins, id, q, k, w, r, a, at, vi, o, tk, ex, lm, sa, sd, cd, dl, inf)
      WHERE x.id = v.id AND NOT v.ins;
  END IF;
  IF cardinality(d_task) > 0 THEN
    DELETE FROM {s}.tasks WHERE id = ANY(d_task);
  END IF;
  IF cardinality(d_task_run) > 0 THEN
    DELETE FROM {s}.tasks WHERE run_id = ANY(d_task_run);
  END IF;
  IF cardinality(d_timer_run) > 0 THEN
    DELETE FROM {s}.timers WHERE run_id = ANY(d_timer_run);
  END IF;
  IF cardinality(n_notes) > 0 THEN
    PERFORM pg_notify(n_channel, n) FROM unnest(n_notes) AS n;
  END IF;
END
$flush$;
