// Applying a filter chain's edits to the slots (flusher thread only, after the chain kept the chunk).
//
// Everything that fits in the slots is written there, so the encoder needs no change for it:
// - fields are plain string/int assignments on the slot header;
// - a removed tag is destroyed and the carrier's last entry moved into its place (entries stay contiguous);
// - a set tag replaces the existing entry, else is appended to the first carrier with room (the slot's inline
//   area, then its overflow slots), else to a new overflow slot from `newCarrier`.
// Only when there is no room anywhere and no new carrier is the tag kept aside in `extraMeta`/`extraMetrics`,
// for the encoder to append. Removed spans stay in `slots` (the flusher still releases them) and are listed
// by `removedSpans`; `keptSlots(into:)` gives the slots to encode.

/// Tags a commit could not store in the slots, grouped by span for the encoder: append them to the span's meta
/// (and metrics) map. Their keys are never already present on the span.
struct ChunkExtraTags {
    var meta: [SlotPointer: [(key: String, value: String)]] = [:]
    var metrics: [SlotPointer: [(key: String, value: Double)]] = [:]
}

extension DDFinishedTrace {
    /// Writes the pending edits into the slots. `newCarrier` may supply a fresh slot to chain as an overflow
    /// carrier when a span's tag areas are full (it is released with the span, through its `overflow` chain);
    /// without one such tags go to `extraMeta`/`extraMetrics`. Edits of removed spans are skipped.
    mutating func commit(newCarrier: () -> SlotPointer? = { nil }) {
        extraMeta = []
        extraMetrics = []
        guard !edits.spans.isEmpty else { return }
        let removed = Set(removedSpans)
        for index in edits.spans.keys.sorted() where !removed.contains(index) {
            apply(edits.spans[index]!, spanIndex: index, newCarrier: newCarrier)
        }
    }

    private mutating func apply(_ spanEdits: SpanEdits, spanIndex: Int, newCarrier: () -> SlotPointer?) {
        let slot = slots[spanIndex]
        if let name = spanEdits.name { slot.pointee.name = name }
        if let service = spanEdits.service { SpanSlot.replaceService(slot, with: service) }
        if let resource = spanEdits.resource { slot.pointee.resource = resource }
        if let type = spanEdits.type { slot.pointee.type = type }
        if let error = spanEdits.error { slot.pointee.error = error ? 1 : 0 }
        for (key, value) in spanEdits.meta {
            if let value {
                if !SlotTags.setMeta(slot, key, value, newCarrier: newCarrier) {
                    extraMeta.append((spanIndex, key, value))
                }
            } else {
                SlotTags.removeMeta(slot, key)
            }
        }
        for (key, value) in spanEdits.metrics {
            if let value {
                if !SlotTags.setMetric(slot, key, value, newCarrier: newCarrier) {
                    extraMetrics.append((spanIndex, key, value))
                }
            } else {
                SlotTags.removeMetric(slot, key)
            }
        }
    }

    /// Replaces `buffer`'s contents with the slots to encode: `slots` without the removed spans, in order.
    func keptSlots(into buffer: inout [SlotPointer]) {
        buffer.removeAll(keepingCapacity: true)
        if let order = edits.order {
            for index in order { buffer.append(slots[index]) }
        } else {
            buffer.append(contentsOf: slots)
        }
    }

    /// `extraMeta` and `extraMetrics` grouped by slot, or nil when a commit stored everything in the slots.
    var extraTags: ChunkExtraTags? {
        guard !extraMeta.isEmpty || !extraMetrics.isEmpty else { return nil }
        var extras = ChunkExtraTags()
        for entry in extraMeta { extras.meta[slots[entry.spanIndex], default: []].append((entry.key, entry.value)) }
        for entry in extraMetrics {
            extras.metrics[slots[entry.spanIndex], default: []].append((entry.key, entry.value))
        }
        return extras
    }
}
