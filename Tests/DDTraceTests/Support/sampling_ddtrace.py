"""Reference implementation for the Swift sampling-rule and trace-filter tests: dd-trace-py 4.x itself.

Reads one batch of cases as JSON on stdin and prints {"ddtrace_version": ..., "results": [...]} with one result
per case, in order, so the Swift tests pay ddtrace's import time once per batch. Every answer comes from
ddtrace's own classes (or Python's `re` for FilterRequestsOnUrl, which used `re.match`):

    {"op": "knuth", "trace_id": u64, "rate": r}            -> SamplingRule(r).sample(span)           (bool)
    {"op": "span_knuth", "span_id": u64, "rate": r}        -> SpanSamplingRule(r)._sample(span)      (bool)
    {"op": "glob", "pattern": p, "subject": s}             -> GlobMatcher(p).match(s)                (bool)
    {"op": "rule_match", "rule_json": s, "span": {...}} -> SamplingRule(**json.loads(s)).matches(span)     (bool)
        span: {"service", "name", "resource", "meta": {k: str}, "metrics": {k: float}}
    {"op": "parse_rules", "json": s}                       -> DatadogSampler.set_sampling_rules(s) -> rules
    {"op": "span_rules", "json": s}                        -> get_span_sampling_rules() with DD_SPAN_SAMPLING_RULES=s
    {"op": "limiter", "rate_limit": n, "start": t0, "calls": [t, ...]}
                                                           -> [[allowed, repr(effective_rate)], ...] with a fake clock
    {"op": "format_rate", "rate": r}                       -> internal.sampling.format_rate(r)       (str)
    {"op": "re_match", "pattern": p, "subject": s}         -> re.match(p, s) is not None, or "error: ..."

Integers above 2**53 travel as decimal strings, and floats in results as repr() strings (exact, whatever the
JSON reader on the Swift side does with long decimals).
"""

import json
import os
import re
import sys

# Set before ddtrace is imported: no telemetry, remote configuration or agent traffic from this process.
os.environ.setdefault("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
os.environ.setdefault("DD_REMOTE_CONFIGURATION_ENABLED", "false")
os.environ.setdefault("DD_TRACE_STARTUP_LOGS", "false")

import ddtrace  # noqa: E402
from ddtrace._trace.sampler import DatadogSampler  # noqa: E402
from ddtrace._trace.sampling_rule import SamplingRule  # noqa: E402
from ddtrace._trace.span import Span  # noqa: E402
from ddtrace.internal import sampling  # noqa: E402
from ddtrace.internal.glob_matching import GlobMatcher  # noqa: E402
from ddtrace.internal.rate_limiter import RateLimiter  # noqa: E402
from ddtrace.internal.settings._config import config  # noqa: E402


def knuth(case):
    span = Span("x", trace_id=int(case["trace_id"]), span_id=1)
    return SamplingRule(sample_rate=case["rate"]).sample(span)


def span_knuth(case):
    span = Span("x", trace_id=1, span_id=int(case["span_id"]))
    rule = sampling.SpanSamplingRule(sample_rate=case["rate"], max_per_second=-1, name="*")
    return rule._sample(span)


def make_span(data):
    span = Span(data["name"], service=data.get("service"), resource=data.get("resource"), trace_id=1, span_id=1)
    for key, value in data.get("meta", {}).items():
        span.set_tag(key, value)
    for key, value in data.get("metrics", {}).items():
        span.set_metric(key, float(value))
    return span


def rule_match(case):
    return SamplingRule(**json.loads(case["rule_json"])).matches(make_span(case["span"]))


def describe_glob(matcher):
    return None if matcher is None else matcher.pattern


def parse_rules(case):
    sampler = DatadogSampler(rules=[])
    try:
        sampler.set_sampling_rules(case["json"])
    except Exception as error:  # unknown properties raise TypeError
        return {"error": type(error).__name__}
    return [
        {
            "sample_rate": repr(rule.sample_rate),
            "service": describe_glob(rule.service),
            "name": describe_glob(rule.name),
            "resource": describe_glob(rule.resource),
            "tags": {key: matcher.pattern for key, matcher in rule.tags.items()},
            "provenance": rule.provenance,
        }
        for rule in sampler.rules
    ]


def span_rules(case):
    config._sampling_rules = case["json"]
    config._sampling_rules_file = None
    return [
        {
            "service": describe_glob(rule._service_matcher),
            "name": describe_glob(rule._name_matcher),
            "sample_rate": repr(float(rule._sample_rate)),
            "max_per_second": repr(float(rule._max_per_second)),
        }
        for rule in sampling.get_span_sampling_rules()
    ]


def limiter(case):
    # RateLimiter reads time.monotonic_ns() in is_allowed(); drive its two steps with our timestamps instead.
    limiter = RateLimiter(case["rate_limit"])
    limiter.last_update_ns = case["start"]
    results = []
    for timestamp in case["calls"]:
        allowed = limiter._is_allowed(timestamp)
        limiter._update_rate_counts(allowed, timestamp)
        results.append([allowed, repr(limiter.effective_rate)])
    return results


def re_match(case):
    try:
        return re.match(case["pattern"], case["subject"]) is not None
    except re.error as error:
        return "error: %s" % error


OPERATIONS = {
    "knuth": knuth,
    "span_knuth": span_knuth,
    "glob": lambda case: GlobMatcher(case["pattern"]).match(case["subject"]),
    "rule_match": rule_match,
    "parse_rules": parse_rules,
    "span_rules": span_rules,
    "limiter": limiter,
    "format_rate": lambda case: sampling.format_rate(case["rate"]),
    "re_match": re_match,
}


def main():
    cases = json.load(sys.stdin)["cases"]
    results = [OPERATIONS[case["op"]](case) for case in cases]
    json.dump({"ddtrace_version": ddtrace.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
