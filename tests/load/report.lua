-- report.lua - wrk prints one machine-readable line at the end of a run (tests/load/run.sh).
-- wrk counts a "timeout" only for a response that arrives later than --timeout; a request
-- that never gets an answer is not counted at all, which is why run.sh also sends a probe.
done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRK requests=%d duration_us=%d connect=%d read=%d write=%d timeout=%d status=%d p99_us=%d max_us=%d\n",
      summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
      latency:percentile(99), latency.max))
end
