#pragma once
// Log output. Engine lines about one run begin "[wf=<workflow id> run=<run id>] ";
// in JSON format those become fields, so log pipelines can filter by workflow.

namespace keel {

// One JSON object per line on the default logger:
// {"ts":"2026-11-22T10:00:00.123Z","level":"warn","wf":"...","run":"...","msg":"..."}
// ("wf" and "run" only on lines about a run).
void UseJsonLogs();

}  // namespace keel
