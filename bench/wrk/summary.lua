-- wrk script: plain GET of the target URL (wrk's own request), one SUMMARY line at the end
-- (the format of ../shared/bench/seed-standin/*.lua, so the same parser reads both).
function done(summary, latency, requests)
  local ms = function(p) return latency:percentile(p) / 1000.0 end
  io.write(string.format(
    "SUMMARY requests=%d duration_s=%.2f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    ms(50), ms(90), ms(99), ms(99.9), latency.max / 1000.0,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
end
