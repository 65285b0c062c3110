"""Independent decoder for the tests: decodes the /v0.4/traces and /v0.5/traces request bodies the test agent
recorded, with the PyPI msgpack library, and checks every span against the schema and wire types the agent expects
(v0.5 spans are checked as 12-element arrays of string-table indexes, then turned into v0.4-style maps).

stdin: the JSON list from /test/session/requests. stdout: {"payloads": [[chunk, ...], ...], "errors": [...]}.
"""
import base64
import json
import sys

import msgpack

TYPES = {
    "service": str, "name": str, "resource": str, "type": str,
    "trace_id": int, "span_id": int, "parent_id": int, "start": int, "duration": int, "error": int,
    "meta": dict, "metrics": dict,
}

def check_span(span, where, errors):
    if not isinstance(span, dict):
        errors.append(f"{where}: span is {type(span).__name__}, not a map")
        return
    if set(span) != set(TYPES):
        errors.append(f"{where}: keys {sorted(span)} differ from {sorted(TYPES)}")
    for key, expected in TYPES.items():
        value = span.get(key)
        if not isinstance(value, expected) or isinstance(value, bool):
            errors.append(f"{where}: {key}={value!r} is not {expected.__name__}")
    for key in ("trace_id", "span_id", "parent_id"):
        if isinstance(span.get(key), int) and not 0 <= span[key] < 2**64:
            errors.append(f"{where}: {key} out of uint64 range")
    if span.get("trace_id") == 0 or span.get("span_id") == 0:
        errors.append(f"{where}: zero trace_id/span_id")
    if span.get("error") not in (0, 1):
        errors.append(f"{where}: error={span.get('error')!r}")
    for k, v in (span.get("meta") or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            errors.append(f"{where}: meta {k!r}={v!r} is not str->str")
    for k, v in (span.get("metrics") or {}).items():
        if not isinstance(k, str) or not isinstance(v, float):
            errors.append(f"{where}: metrics {k!r}={v!r} is not str->float64")

V05_FIELDS = ["service", "name", "resource", "trace_id", "span_id", "parent_id", "start", "duration", "error",
              "meta", "metrics", "type"]

def from_v05(payload, where, errors):
    """[strings, chunks] with spans as arrays -> chunks of span maps (None when the framing is wrong)."""
    if not isinstance(payload, list) or len(payload) != 2:
        errors.append(f"{where}: a v0.5 payload must be an array of 2")
        return None
    strings, chunks = payload
    if not isinstance(strings, list) or not strings or strings[0] != "" or not all(isinstance(s, str) for s in strings):
        errors.append(f"{where}: the string table must be strings starting with \"\"")
        return None
    if len(set(strings)) != len(strings):
        errors.append(f"{where}: the string table has duplicates")

    def text(index, field):
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(strings):
            errors.append(f"{where}: {field} index {index!r} outside the string table")
            return ""
        return strings[index]

    converted = []
    for chunk in chunks if isinstance(chunks, list) else []:
        spans = []
        for span in chunk if isinstance(chunk, list) else []:
            if not isinstance(span, list) or len(span) != 12:
                errors.append(f"{where}: span is not an array of 12")
                continue
            fields = dict(zip(V05_FIELDS, span))
            for field in ("service", "name", "resource", "type"):
                fields[field] = text(fields[field], field)
            fields["meta"] = {text(k, "meta key"): text(v, "meta value") for k, v in (fields["meta"] or {}).items()}
            fields["metrics"] = {text(k, "metric key"): v for k, v in (fields["metrics"] or {}).items()}
            spans.append(fields)
        converted.append(spans)
    return converted

def main():
    requests = json.load(sys.stdin)
    payloads, errors = [], []
    for index, request in enumerate(requests):
        url = request.get("url", "")
        if "/v0.4/traces" not in url and "/v0.5/traces" not in url:
            continue
        body = base64.b64decode(request.get("body") or "")
        try:
            # v0.5 maps are keyed by string-table indexes.
            # A map with a key written twice decodes to one entry (the last); the agent would keep only one too,
            # so a tracer that writes a tag twice must show up here, not disappear in the decoding.
            def pairs(items, where=f"request {index}"):
                keys = [key for key, _ in items]
                if len(set(keys)) != len(keys):
                    errors.append(f"{where}: duplicate map keys {sorted(k for k in set(keys) if keys.count(k) > 1)}")
                return dict(items)
            payload = msgpack.unpackb(body, raw=False, strict_map_key="/v0.5/" not in url, object_pairs_hook=pairs)
        except Exception as error:  # noqa: BLE001 - report any decoding failure as a test error
            errors.append(f"request {index}: msgpack decoding failed: {error}")
            continue
        if "/v0.5/traces" in url:
            payload = from_v05(payload, f"request {index}", errors)
            if payload is None:
                continue
        count = request.get("headers", {}).get("X-Datadog-Trace-Count") or request.get("headers", {}).get("x-datadog-trace-count")
        if not isinstance(payload, list):
            errors.append(f"request {index}: payload is not an array")
            continue
        if count is not None and int(count) != len(payload):
            errors.append(f"request {index}: X-Datadog-Trace-Count {count} != {len(payload)} chunks")
        for c, chunk in enumerate(payload):
            if not isinstance(chunk, list) or not chunk:
                errors.append(f"request {index} chunk {c}: not a non-empty array")
                continue
            if len({s.get("trace_id") for s in chunk if isinstance(s, dict)}) != 1:
                errors.append(f"request {index} chunk {c}: spans of several traces")
            for s, span in enumerate(chunk):
                check_span(span, f"request {index} chunk {c} span {s}", errors)
        payloads.append(payload)
    json.dump({"payloads": payloads, "errors": errors}, sys.stdout)

main()
