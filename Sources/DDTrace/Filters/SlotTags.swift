// Reading and editing the tags of a finished span's slot, including its overflow chain.
//
// Used on the flusher thread (filters, sampling rules at flush) where the slot belongs to the flusher; the
// slot's owner thread no longer touches it. Each carrier (the slot itself, then its overflow slots) holds its
// entries contiguously in `0..<metaCount` / `0..<metricCount`, which is all the encoder and `SpanSlot.clear`
// rely on, so an entry can be removed by moving the carrier's last entry into its place.

enum SlotTags {
    /// The value of meta `key` on the span, searching its overflow chain too.
    static func meta(_ slot: SlotPointer, _ key: String) -> String? {
        guard let (carrier, index) = findMeta(slot, key) else { return nil }
        return carrier.metaEntries[index].value
    }

    /// The value of metric `key` on the span, searching its overflow chain too.
    static func metric(_ slot: SlotPointer, _ key: String) -> Double? {
        guard let (carrier, index) = findMetric(slot, key) else { return nil }
        return carrier.metricEntries[index].value
    }

    /// Calls `body` with every meta entry of the span, in storage order.
    static func forEachMeta(_ slot: SlotPointer, _ body: (String, String) -> Void) {
        var carrier: SlotPointer? = slot
        while let current = carrier {
            for index in 0..<metaCount(current) { body(current.metaEntries[index].key, current.metaEntries[index].value) }
            carrier = current.pointee.overflow
        }
    }

    /// Calls `body` with every metric entry of the span, in storage order.
    static func forEachMetric(_ slot: SlotPointer, _ body: (String, Double) -> Void) {
        var carrier: SlotPointer? = slot
        while let current = carrier {
            for index in 0..<metricCount(current) {
                body(current.metricEntries[index].key, current.metricEntries[index].value)
            }
            carrier = current.pointee.overflow
        }
    }

    @inline(__always) static func metaCount(_ carrier: SlotPointer) -> Int {
        Int(min(carrier.pointee.metaCount, UInt16(SpanSlot.metaCapacity)))
    }

    @inline(__always) static func metricCount(_ carrier: SlotPointer) -> Int {
        Int(min(carrier.pointee.metricCount, UInt16(SpanSlot.metricCapacity)))
    }

    /// The carrier and index holding meta `key`. Compares UTF-8 lengths first, as `EngineCore.setMeta` does.
    static func findMeta(_ slot: SlotPointer, _ key: String) -> (SlotPointer, Int)? {
        let length = key.utf8.count
        var carrier: SlotPointer? = slot
        while let current = carrier {
            let entries = current.metaEntries
            for index in 0..<metaCount(current) where entries[index].key.utf8.count == length {
                if entries[index].key == key { return (current, index) }
            }
            carrier = current.pointee.overflow
        }
        return nil
    }

    static func findMetric(_ slot: SlotPointer, _ key: String) -> (SlotPointer, Int)? {
        let length = key.utf8.count
        var carrier: SlotPointer? = slot
        while let current = carrier {
            let entries = current.metricEntries
            for index in 0..<metricCount(current) where entries[index].key.utf8.count == length {
                if entries[index].key == key { return (current, index) }
            }
            carrier = current.pointee.overflow
        }
        return nil
    }

    // MARK: Editing (flusher thread, finished slots only)

    /// Removes meta `key`; returns whether it was present.
    @discardableResult
    static func removeMeta(_ slot: SlotPointer, _ key: String) -> Bool {
        guard let (carrier, index) = findMeta(slot, key) else { return false }
        let last = metaCount(carrier) - 1
        // Destroy the entry, then fill the hole with the carrier's last entry so the entries stay contiguous.
        _ = (carrier.metaEntries + index).move()
        if index != last { (carrier.metaEntries + index).moveInitialize(from: carrier.metaEntries + last, count: 1) }
        carrier.pointee.metaCount = UInt16(last)
        return true
    }

    @discardableResult
    static func removeMetric(_ slot: SlotPointer, _ key: String) -> Bool {
        guard let (carrier, index) = findMetric(slot, key) else { return false }
        let last = metricCount(carrier) - 1
        _ = (carrier.metricEntries + index).move()
        if index != last {
            (carrier.metricEntries + index).moveInitialize(from: carrier.metricEntries + last, count: 1)
        }
        carrier.pointee.metricCount = UInt16(last)
        return true
    }

    /// Sets meta `key`: replaces an existing entry, else appends to the first carrier with room, else to a new
    /// carrier from `newCarrier`. Returns false when there was no room anywhere (the caller keeps the tag aside).
    static func setMeta(_ slot: SlotPointer, _ key: String, _ value: String, newCarrier: () -> SlotPointer?) -> Bool {
        if let (carrier, index) = findMeta(slot, key) {
            carrier.metaEntries[index].value = value
            return true
        }
        guard let carrier = carrierWithRoom(slot, hasRoom: { metaCount($0) < SpanSlot.metaCapacity }, newCarrier)
        else { return false }
        (carrier.metaEntries + metaCount(carrier)).initialize(to: MetaEntry(key: key, value: value))
        carrier.pointee.metaCount += 1
        return true
    }

    static func setMetric(_ slot: SlotPointer, _ key: String, _ value: Double, newCarrier: () -> SlotPointer?) -> Bool {
        if let (carrier, index) = findMetric(slot, key) {
            carrier.metricEntries[index].value = value
            return true
        }
        guard let carrier = carrierWithRoom(slot, hasRoom: { metricCount($0) < SpanSlot.metricCapacity }, newCarrier)
        else { return false }
        (carrier.metricEntries + metricCount(carrier)).initialize(to: MetricEntry(key: key, value: value))
        carrier.pointee.metricCount += 1
        return true
    }

    /// The span's slot or one of its overflow slots with room, or a fresh carrier chained at the end (set up as
    /// `EngineCore.overflowCarrier` does: the flusher releases the whole chain with the span).
    private static func carrierWithRoom(
        _ slot: SlotPointer, hasRoom: (SlotPointer) -> Bool, _ newCarrier: () -> SlotPointer?
    ) -> SlotPointer? {
        var last = slot
        if hasRoom(slot) { return slot }
        while let next = last.pointee.overflow {
            if hasRoom(next) { return next }
            last = next
        }
        guard let carrier = newCarrier() else { return nil }
        // A slot taken from a pool has its string fields deinitialized (see SpanSlot.initializeStrings); the
        // flusher's `clear` deinitializes them again when it releases the chain.
        SpanSlot.initializeStrings(carrier, name: "", service: "", resource: "", type: "")
        carrier.state.store(SlotState.overflowTags, ordering: .relaxed)
        carrier.pointee.metaCount = 0
        carrier.pointee.metricCount = 0
        carrier.pointee.overflow = nil
        last.pointee.overflow = carrier
        return carrier
    }
}
