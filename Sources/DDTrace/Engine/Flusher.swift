// The background flusher: the one thread that turns finished spans into requests to the agent.
//
// Each pass it
// 1. drains every thread's ring (and the engine's ring-overflow stack), appending each finished span to the chunk
//    list of its local root;
// 2. emits a chunk when all spans registered with its root have arrived (the span whose finish closed the trace
//    reported how many that is), or partially once `partialFlushMinSpans` finished spans are waiting;
// 3. decides the trace's sampling priority (once per trace), encodes the chunk into the current payload and
//    returns the spans' slots to their pools;
// 4. every flush interval (or when a payload is full, or on `flush()`), sends the queued payloads.
//
// Everything here runs on the flusher thread; the only shared state is the rings (SPSC), the pools' remote free
// stacks, the overflow stack, and two mutex-protected mailboxes: flush requests in, statistics out.

import Atomics
import CDDTraceShims
import Dispatch
import Foundation
import Logging

/// The result of `DDTracer.flush(timeout:)`.
public struct DDFlushResult: Sendable, Equatable {
    /// Whether every finished trace was accepted by the agent (nothing left queued, no request failed).
    public var succeeded: Bool
    /// Payloads still queued for a later attempt (for example because the agent is down).
    public var payloadsPending: Int
}

/// Flusher-side counters, published once per pass.
struct FlusherStatistics: Sendable {
    var spansSent: UInt64 = 0
    var chunksSent: UInt64 = 0
    var payloadsSent: UInt64 = 0
    var bytesSent: UInt64 = 0
    var requestErrors: UInt64 = 0
    var responseErrors: UInt64 = 0
    var partialFlushes: UInt64 = 0
    var staleTraceFlushes: UInt64 = 0
    var spansDroppedBufferFull: UInt64 = 0
    var spansDroppedSendFailed: UInt64 = 0
    var spansDroppedRejected: UInt64 = 0
    var spansDroppedEncoding: UInt64 = 0
    var spansSampledOut: UInt64 = 0
    var spansDroppedByFilters: UInt64 = 0
    var spansDroppedBySampling: UInt64 = 0
    var flusherCPUNanoseconds: UInt64 = 0
    var lastStatus: Int = 0
    var lastError: String = ""
    var usesIOUring = false
    var stringsTruncated: UInt64 = 0
    var apiVersion: TraceAPIVersion = .v04
    var bufferedBytes: UInt64 = 0
    var peakBufferedBytes: UInt64 = 0
    var spareBufferBytes: UInt64 = 0
    var drainsWhileWaiting: UInt64 = 0
}

final class Flusher: @unchecked Sendable {
    private let engine: UnsafeMutablePointer<EngineCore>
    private let configuration: ResolvedConfiguration
    private let logger: Logger
    private let agent: AgentClient
    private let encoder: TraceEncoder
    /// DogStatsD health metrics, when enabled.
    private let healthMetrics: HealthMetricsReporter?
    /// `StringStorage.canSkipUnowned`, read once (see `SpanSlot.clear`).
    private let canSkipUnowned = StringStorage.canSkipUnowned

    // Flusher-thread state. `@exclusivity(unchecked)`: only the flusher thread touches these, and never through
    // overlapping accesses, so the runtime's dynamic exclusivity checks (swift_beginAccess on every mutation of a
    // class property) prove nothing here; they cost about 200 instructions per span (callgrind).
    @exclusivity(unchecked) private var states: [UnsafeMutablePointer<ThreadState>] = []
    @exclusivity(unchecked) private var registryVersion = -1
    @exclusivity(unchecked) private var scratch: [SlotPointer] = []
    @exclusivity(unchecked) private var queue: [QueuedPayload] = []
    @exclusivity(unchecked) private var queuedBytes = 0
    /// True while `sendQueued` walks `queue` by index: payloads sealed meanwhile (by `drainWhileWaiting`, or by
    /// the v0.5 → v0.4 downgrade) are only appended, and the buffer cap is enforced when the walk ends.
    @exclusivity(unchecked) private var walkingQueue = false
    /// True while a non-forced request waits for the agent: `drainWhileWaiting` may drain the rings.
    @exclusivity(unchecked) private var waitingForAgent = false
    @exclusivity(unchecked) private var statistics = FlusherStatistics()
    let sampler: TraceSampler
    /// The user's trace filters (`configure(traceFilters:)`), handed over through a version counter so that the
    /// flusher rebuilds its chain only when they change.
    private let filters = LockedValue<[any DDTraceFilter]>([])
    private let filtersVersion = ManagedAtomic<Int>(0)
    @exclusivity(unchecked) private var installedFiltersVersion = 0
    @exclusivity(unchecked) private var filterChain = TraceFilterChain(filters: [])
    /// Scratch for a chunk from which filters removed spans.
    @exclusivity(unchecked) private var filtered: [SlotPointer] = []
    /// Local roots whose traces have finished spans waiting for unfinished ones (with the root's generation, so a
    /// recycled root is recognised). Scanned once per flush interval for stale traces.
    @exclusivity(unchecked) private var pendingRoots: [(root: SlotPointer, generation: UInt32)] = []
    /// Finished spans of a trace that still has an unfinished span are sent after this long, as a partial chunk,
    /// so that a span leaked by the application cannot hold memory (or its trace's data) forever.
    static let defaultStaleTraceTimeout: Duration = .seconds(60)
    private let staleTraceTimeoutNanoseconds: Int64
    @exclusivity(unchecked) private var maxPayloadBytes: Int
    @exclusivity(unchecked) private var nextSendAt: Int64 = 0
    @exclusivity(unchecked) private var loggedOnce: Set<String> = []

    // Mailboxes.
    private let requests = LockedValue<[FlushRequest]>([])
    private let published = LockedValue(FlusherStatistics())
    private let wakeUp = DispatchSemaphore(value: 0)
    private let stopRequested = ManagedAtomic<Bool>(false)
    private let stopped = DispatchSemaphore(value: 0)

    /// A sealed payload: an encoder buffer handed over without copying (recycled through `spareBuffers`).
    private struct QueuedPayload {
        /// The traces array (the whole payload for v0.4).
        var buffer: UnsafeMutablePointer<ddtrace_mpbuf>
        /// v0.5: `0x92` and the string table, sent in front of `buffer`; nil for v0.4.
        var prefix: [UInt8]?
        var chunks: Int
        var spans: Int
        var attempts: Int
        var size: Int { buffer.pointee.size + (prefix?.count ?? 0) }
        var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: buffer.pointee.data, count: buffer.pointee.size) }
    }
    /// Emptied payload buffers kept for reuse, so that steady-state flushing neither allocates nor page-faults.
    /// Every emptied buffer is kept while the queue is long (the agent is slow, or a burst is being sent): mapping,
    /// faulting in and unmapping 1-2 MiB per payload made the flusher spend 602-787 instead of 405-496 ns per span
    /// in the Pipeline benchmark's bursts. Once the queue has stayed short for `spareTrimDelay`, the spares beyond
    /// `maxSpareBuffers` are freed, and their pages go back to the kernel (they are mappings of their own, see
    /// `ddtrace_mpbuf`): a slow spell of the agent does not keep its memory for good. Buffers are only made when
    /// no spare is left, so the queue and the spares together never hold more than the queue's peak plus one.
    @exclusivity(unchecked) private var spareBuffers: [UnsafeMutablePointer<ddtrace_mpbuf>] = []
    static let maxSpareBuffers = 4
    static let spareTrimDelay: Int64 = 1_000_000_000
    /// When the queue last held more than `maxSpareBuffers` payloads (monotonic ns).
    @exclusivity(unchecked) private var queueLastLongAt: Int64 = 0
    /// Payloads are sealed (and so sent) once they reach this size, well below the agent's limit: small sends keep
    /// the flusher responsive (a 1 MiB write over a unix socket takes ~0.1 ms).
    private let sealThreshold: Int
    /// After a transport failure, no new attempt before this time (the agent is down or restarting).
    @exclusivity(unchecked) private var retryNotBefore: Int64 = 0

    private struct FlushRequest {
        let completion: @Sendable (DDFlushResult) -> Void
    }

    static let maxSendAttempts = 3

    init(
        engine: UnsafeMutablePointer<EngineCore>, configuration: ResolvedConfiguration, logger: Logger,
        additionalHeaders: [(String, String)], sampler: TraceSampler,
        staleTraceTimeout: Duration = Flusher.defaultStaleTraceTimeout
    ) {
        self.staleTraceTimeoutNanoseconds = staleTraceTimeout.nanoseconds
        self.engine = engine
        self.configuration = configuration
        self.logger = logger
        self.maxPayloadBytes = configuration.maxPayloadBytes
        self.sampler = sampler
        self.sealThreshold = min(configuration.maxPayloadBytes, 1 << 20)
        // The container id lets the agent tag traces with container metadata; only a recognised id is sent.
        var headers = additionalHeaders
        if let containerID = SystemIdentity.readCgroup().flatMap(SystemIdentity.containerID(cgroup:)) {
            headers.append(("Datadog-Container-ID", containerID))
        }
        agent = AgentClient(
            endpoint: configuration.agent, timeoutMilliseconds: configuration.agentTimeoutMilliseconds,
            tryIOUring: configuration.ioUringEnabled, additionalHeaders: headers)
        var hostname: String?
        if configuration.reportHostname {
            let system = SystemIdentity.systemHostname()
            hostname = SystemIdentity.validatedHostname(system)
            if hostname == nil {
                logger.warning("DD_TRACE_REPORT_HOSTNAME: the system hostname \(system.debugDescription) is not a valid hostname; not reporting it")
            }
        }
        encoder = TraceEncoder(
            tags: EncoderTags(
                env: configuration.env, version: configuration.version, defaultService: configuration.service,
                globalTags: configuration.globalTags, runtimeId: UUID().uuidString.lowercased(),
                processId: Double(getpid()), hostname: hostname),
            initialCapacity: 1 << 20, format: configuration.apiVersion)
        healthMetrics =
            configuration.healthMetricsEnabled
            ? HealthMetricsReporter(
                endpoint: configuration.dogstatsd, service: configuration.service, env: configuration.env,
                version: configuration.version) : nil
        statistics.apiVersion = configuration.apiVersion
        scratch.reserveCapacity(1024)
        statistics.usesIOUring = agent.usesIOUring
        published.withLock { [statistics] in $0 = statistics }
        if configuration.ioUringEnabled && !agent.usesIOUring {
            logger.notice(
                "io_uring is unavailable (io_uring_queue_init: \(String(cString: strerror(-agent.ioUringError)))); sending traces with plain sockets"
            )
        } else {
            logger.debug("sending traces to \(configuration.agent) using \(agent.usesIOUring ? "io_uring" : "plain sockets")")
        }
    }

    /// Frees the payload buffers (the encoder frees its own). Runs once the tracer is gone and the thread has
    /// stopped; never while the loop runs, since the thread's closure holds the flusher.
    deinit {
        for buffer in spareBuffers + queue.map(\.buffer) { Self.freeBuffer(buffer) }
    }

    func start() {
        // The thread's closure keeps the flusher alive while the loop runs. The flusher must not keep the thread:
        // a stored `Thread` (which keeps its closure) closed a retain cycle, and every tracer that was shut down
        // leaked its flusher with its payload buffers, agent connection and io_uring instance.
        startNamedThread("dd-trace-flush") { [self] in run() }
    }

    /// Asks for everything finished so far to be sent; `completion` runs on the flusher thread.
    func requestFlush(_ completion: @escaping @Sendable (DDFlushResult) -> Void) {
        requests.withLock { $0.append(FlushRequest(completion: completion)) }
        wakeUp.signal()
    }

    /// Stops the thread after a final flush. Returns false if it did not stop within `timeout`.
    func stop(timeout: Duration) -> Bool {
        if stopRequested.exchange(true, ordering: .acquiringAndReleasing) { return true }
        wakeUp.signal()
        let nanoseconds = max(0, timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        return stopped.wait(timeout: .now() + .nanoseconds(Int(clamping: nanoseconds))) == .success
    }

    var currentStatistics: FlusherStatistics { published.withLock { $0 } }

    // MARK: The loop

    private func run() {
        nextSendAt = ddtrace_monotonic_ns() + configuration.flushIntervalNanoseconds
        // Unowned: the client belongs to this flusher; the hook is removed before the loop ends.
        agent.whileWaiting = { [unowned self] in drainWhileWaiting() }
        defer { agent.whileWaiting = nil }
        while true {
            let stopping = stopRequested.load(ordering: .acquiring)
            let pending = requests.withLock { list -> [FlushRequest] in
                let taken = list
                list.removeAll()
                return taken
            }
            let processed = drainAll()
            let now = ddtrace_monotonic_ns()
            if !pending.isEmpty || stopping {
                // Everything finished before the request is now in the chunk lists or encoded.
                sealPayload()
                sendQueued(force: true)
                let result = DDFlushResult(succeeded: queue.isEmpty && statistics.lastError.isEmpty, payloadsPending: queue.count)
                publish()
                for request in pending { request.completion(result) }
            } else if now >= nextSendAt || !queue.isEmpty {
                if now >= nextSendAt {
                    flushStaleTraces(now: now)
                    sealPayload()
                    nextSendAt = now + configuration.flushIntervalNanoseconds
                    engine.pointee.wallClockOffset.store(ddtrace_realtime_ns() - ddtrace_monotonic_ns(), ordering: .relaxed)
                    sendQueued(force: false)
                    trimSpareBuffers(now: now)
                    reportHealth()
                } else {
                    sendQueued(force: false)
                }
            }
            publish()
            if stopping {
                reportHealth()
                break
            }
            // Busy rings get no sleep; otherwise wait up to 1 ms (~1000 wake-ups per second when idle). On a busy
            // machine the wait can last much longer before this thread runs again (up to 12 ms measured on a 2-vCPU
            // VM at 1 M spans/s): the default pool and ring (16384) are sized to ride that out at 1 M spans/s.
            if processed < 256 {
                _ = wakeUp.wait(timeout: .now() + .milliseconds(1))
            }
        }
        stopped.signal()
    }

    /// Runs every 200 µs while a request waits on the agent's socket (AgentClient.whileWaiting): for the agent
    /// to read a 1 MB payload, then to decode it and answer. That takes milliseconds; without this, a thread
    /// producing spans at 2 M/s would exhaust even a 16384-slot pool meanwhile. What it encodes is queued as usual,
    /// so the buffer cap bounds it as it bounds everything else.
    private func drainWhileWaiting() {
        // Near the buffer cap (the agent is slow), stop: payloads sealed now cannot be trimmed until the request
        // ends (`sendQueued` walks the queue), so keep two payloads' room below the cap.
        guard waitingForAgent, queuedBytes + 2 * sealThreshold <= configuration.bufferCapBytes else { return }
        statistics.drainsWhileWaiting += 1
        _ = drainAll()
    }

    /// Sends the counters to DogStatsD (once per flush interval, and at shutdown).
    private func reportHealth() {
        guard let healthMetrics else { return }
        publish()
        healthMetrics.report(
            DDTracerCounters(engine: engine, flusher: statistics), pendingPayloads: queue.count,
            pendingBytes: queuedBytes)
    }

    private func publish() {
        var cpu = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu)
        statistics.flusherCPUNanoseconds = UInt64(cpu.tv_sec) * 1_000_000_000 + UInt64(cpu.tv_nsec)
        statistics.bytesSent = agent.bytesSent
        statistics.stringsTruncated = encoder.truncations
        statistics.bufferedBytes = UInt64(max(0, queuedBytes))
        statistics.spareBufferBytes = spareBuffers.reduce(0) { $0 + UInt64($1.pointee.capacity) }
        let snapshot = statistics
        published.withLock { $0 = snapshot }
    }

    // MARK: Draining and assembling chunks

    private func drainAll() -> Int {
        if let snapshot = engine.pointee.registry.takeUnretainedValue().snapshot(ifChangedSince: registryVersion) {
            states = snapshot.states
            registryVersion = snapshot.version
        }
        var total = 0
        for state in states {
            total += state.pointee.ring.drain { slot in receive(slot) }
        }
        // Spans whose ring was full: take the whole stack at once (acquire pairs with the pushers' release).
        var overflow = SlotPointer(bitPattern: engine.pointee.overflowStack.exchange(0, ordering: .acquiring))
        while let slot = overflow {
            overflow = slot.pointee.next
            receive(slot)
            total += 1
        }
        return total
    }

    private func receive(_ slot: SlotPointer) {
        let root = slot.pointee.localRoot.unsafelyUnwrapped
        slot.pointee.chunkNext = nil
        if let tail = root.pointee.chunkTail {
            tail.pointee.chunkNext = slot
        } else {
            root.pointee.chunkHead = slot
        }
        root.pointee.chunkTail = slot
        if root.pointee.chunkPending == 0 {
            root.pointee.pendingSince = ddtrace_monotonic_ns()
            if root.pointee.expected == 0 && slot.pointee.closingTotal == 0 {
                // The trace has spans waiting for others that may never finish: watch it.
                pendingRoots.append((root, root.generation.load(ordering: .relaxed)))
            }
        }
        root.pointee.chunkPending += 1
        root.pointee.received += 1
        if slot.pointee.closingTotal > 0 { root.pointee.expected = slot.pointee.closingTotal }
        if root.pointee.expected != 0 && root.pointee.received == root.pointee.expected {
            emit(root: root, complete: true)
        } else if configuration.partialFlushEnabled
            && Int(root.pointee.chunkPending) >= configuration.partialFlushMinSpans
        {
            statistics.partialFlushes += 1
            emit(root: root, complete: false)
        }
    }

    /// Sends, as partial chunks, the finished spans of traces that have waited longer than the stale-trace timeout
    /// for an unfinished span (counted in `partialFlushes` and `staleTraceFlushes`).
    private func flushStaleTraces(now: Int64) {
        guard !pendingRoots.isEmpty else { return }
        var stillPending: [(root: SlotPointer, generation: UInt32)] = []
        for entry in pendingRoots {
            let root = entry.root
            guard root.holds(generation: entry.generation), root.pointee.chunkPending > 0 else { continue }
            if now - root.pointee.pendingSince >= staleTraceTimeoutNanoseconds {
                statistics.staleTraceFlushes += 1
                emit(root: root, complete: false)
            } else {
                stillPending.append(entry)
            }
        }
        pendingRoots = stillPending
    }

    /// Encodes the root's pending spans as one chunk and releases their slots. A local root that is not complete
    /// keeps its slot (it holds the trace's counters) even if the root span itself was just sent.
    private func emit(root: SlotPointer, complete: Bool) {
        scratch.removeAll(keepingCapacity: true)
        var cursor = root.pointee.chunkHead
        while let span = cursor {
            cursor = span.pointee.chunkNext
            // The local root leads its chunk: it carries the trace-level tags.
            if span == root { scratch.insert(span, at: 0) } else { scratch.append(span) }
        }
        root.pointee.chunkHead = nil
        root.pointee.chunkTail = nil
        root.pointee.chunkPending = 0
        if !scratch.isEmpty {
            process(root: root)
        }
        // Every span's generation changes before any slot is torn down, so that one wait covers the chunk's
        // spans that a child on another thread may be reading the service of (see `ServiceState`).
        var serviceReadable = false
        for span in scratch where span != root {
            serviceReadable = retire(span) || serviceReadable
        }
        if complete { serviceReadable = retire(root) || serviceReadable }
        if serviceReadable { engine.pointee.registry.takeUnretainedValue().awaitServiceReaders() }
        for span in scratch where span != root {
            release(span)
        }
        if complete {
            release(root)
        } else if scratch.first == root {
            root.pointee.rootSent = true
        }
        flushReleases()
    }

    /// Runs the user's trace filters on the chunk in `scratch`, samples it, and encodes what is left.
    private func process(root: SlotPointer) {
        var extras: ChunkExtraTags?
        var encodeFiltered = false
        refreshFilters()
        if !filterChain.isEmpty {
            var view = DDFinishedTrace(
                slots: scratch, localRoot: scratch.first == root ? root : nil, defaultService: configuration.service)
            if filterChain.run(&view) == .drop {
                statistics.spansDroppedByFilters += UInt64(scratch.count)
                return
            }
            if view.hasEdits {
                view.commit()
                if !view.removedSpans.isEmpty {
                    filtered.removeAll(keepingCapacity: true)
                    view.keptSlots(into: &filtered)
                    statistics.spansDroppedByFilters += UInt64(scratch.count - filtered.count)
                    encodeFiltered = true
                }
                extras = view.extraTags
            }
        }
        let spans = encodeFiltered ? filtered : scratch
        guard !spans.isEmpty else { return }
        let decoration = decide(root: root, spans: spans)
        if root.pointee.decisionDiscard {
            statistics.spansDroppedBySampling += UInt64(spans.count)
            return
        }
        if decoration.samplingPriority <= 0, let spanRules = sampler.spanRules {
            // Single-span sampling: keep selected spans of a dropped trace (the agent keeps spans carrying
            // `_dd.span_sampling.mechanism` even though their chunk has priority <= 0).
            for span in spans {
                _ = spanRules.tagIfSampled(span, defaultService: configuration.service, leftover: { key, value in
                    if extras == nil { extras = ChunkExtraTags() }
                    extras!.metrics[span, default: []].append((key, value))
                })
            }
        }
        append(spans[...], decoration: decoration, origin: root.pointee.origin, extras: extras)
    }

    // MARK: Trace filters

    /// Installs the filters `configure(traceFilters:)` set, if they changed since the last chunk.
    private func refreshFilters() {
        let version = filtersVersion.load(ordering: .acquiring)
        guard version != installedFiltersVersion else { return }
        installedFiltersVersion = version
        let logger = self.logger
        // The chain reports each filter's first error only: logged once, as the issue asks.
        filterChain = TraceFilterChain(filters: filters.withLock { $0 }) { position, filter, error in
            logger.warning("trace filter #\(position) (\(type(of: filter))) threw \(error); its chunk was kept as it was")
        }
    }

    /// Replaces the trace filters; takes effect from the next chunk. Any thread.
    func setFilters(_ newFilters: [any DDTraceFilter]) {
        filters.withLock { $0 = newFilters }
        filtersVersion.wrappingIncrement(ordering: .releasing)
    }

    // MARK: Sampling

    private func decide(root: SlotPointer, spans: [SlotPointer]) -> ChunkDecoration {
        if root.pointee.decidedPriority == unsetSamplingPriority {
            let decision: SamplingDecision
            if let preset = SamplingDecision(packed: root.presetDecision.load(ordering: .acquiring), rate: 1) {
                // Decided at the first inject: downstream services received this one, so keep it.
                var recorded = SamplingDecision(
                    priority: preset.priority, mechanism: preset.mechanism,
                    rate: preset.mechanism == 1
                        ? (sampler.agentRate(service: root.pointee.service) ?? 1) : root.pointee.presetRate)
                recorded.limitRate = root.pointee.presetLimitRate >= 0 ? root.pointee.presetLimitRate : nil
                decision = recorded
            } else {
                // A manual decision on any span of the chunk counts (the local root's own wins).
                var manual = unsetSamplingPriority
                for span in spans.reversed() where span.pointee.samplingPriority != unsetSamplingPriority {
                    manual = span.pointee.samplingPriority
                }
                decision = sampler.decide(
                    root: root, traceIdLow: root.pointee.traceIdLow, manual: manual,
                    inherited: root.pointee.inheritedPriority, service: root.pointee.service)
            }
            // Publish it so that a later inject for this trace propagates the same decision; if an inject won
            // the race, its decision is the one downstream services saw.
            let (exchanged, original) = root.presetDecision.compareExchange(
                expected: 0, desired: decision.packed, ordering: .acquiringAndReleasing)
            let final = exchanged ? decision : SamplingDecision(packed: original, rate: decision.rate) ?? decision
            root.pointee.decidedPriority = final.priority
            root.pointee.decisionMechanism = final.mechanism
            root.pointee.decisionRate = final.rate
            root.pointee.decisionLimitRate = exchanged ? (decision.limitRate ?? -1) : -1
            root.pointee.decisionDiscard = exchanged && decision.discard
        }
        var decision = SamplingDecision(
            priority: root.pointee.decidedPriority, mechanism: root.pointee.decisionMechanism,
            rate: root.pointee.decisionRate)
        decision.limitRate = root.pointee.decisionLimitRate >= 0 ? root.pointee.decisionLimitRate : nil
        if decision.priority <= 0 { statistics.spansSampledOut += UInt64(spans.count) }
        // An upstream decision maker is kept, never overwritten (dd-trace-py).
        let inheritedDecisionMaker = root.pointee.propagatedTags?["_dd.p.dm"] != nil
        let byRule = decision.mechanism == 3 || decision.mechanism == 11 || decision.mechanism == 12
        return ChunkDecoration(
            samplingPriority: decision.priority, decisionMaker: inheritedDecisionMaker ? nil : decision.decisionMaker,
            agentRate: decision.mechanism == 1 ? decision.rate : nil, ruleRate: byRule ? decision.rate : nil,
            limitRate: byRule ? decision.limitRate : nil, propagatedTags: root.pointee.propagatedTags)
    }

    // MARK: Encoding and the payload queue

    private func append(
        _ spans: ArraySlice<SlotPointer>, decoration: ChunkDecoration, origin: String, extras: ChunkExtraTags? = nil
    ) {
        let offset = engine.pointee.wallClockOffset.load(ordering: .relaxed)
        let before = encoder.mark
        encoder.appendChunk(spans, decoration: decoration, origin: origin, extras: extras, wallClockOffset: offset)
        if encoder.failed {
            encoder.takeBack(to: before)
            statistics.spansDroppedEncoding += UInt64(spans.count)
            logOnce("encoding", "could not allocate memory to encode a trace chunk; its spans were dropped")
            if encoder.failed {
                // The v0.5 string table itself could not grow: the payload so far cannot be completed either.
                statistics.spansDroppedEncoding += UInt64(encoder.spanCount)
                encoder.startPayload()
            }
            return
        }
        guard encoder.size > maxPayloadBytes else {
            if encoder.size >= sealThreshold { sealPayload() }
            return
        }
        // Too large: take the chunk back, send what was there, and retry in a fresh payload; a chunk that is
        // too large on its own is split (each part is a valid chunk of the same trace).
        encoder.takeBack(to: before)
        if before.chunkCount > 0 {
            sealPayload()
            append(spans, decoration: decoration, origin: origin, extras: extras)
        } else if spans.count > 1 {
            let middle = spans.startIndex + spans.count / 2
            append(spans[spans.startIndex..<middle], decoration: decoration, origin: origin, extras: extras)
            append(spans[middle...], decoration: decoration, origin: origin, extras: extras)
        } else {
            statistics.spansDroppedRejected += 1
            logOnce("span-too-large", "a single span is larger than the maximum payload size (\(maxPayloadBytes) bytes); it was dropped")
        }
    }

    /// Moves the current payload (if any) to the send queue, enforcing the buffer memory cap.
    private func sealPayload() {
        guard !encoder.isEmpty else { return }
        let chunks = encoder.chunkCount
        let spans = encoder.spanCount
        let replacement = spareBuffers.popLast() ?? Self.makeBuffer()
        let (traces, prefix) = encoder.swapBuffer(replacement)
        let payload = QueuedPayload(buffer: traces, prefix: prefix, chunks: chunks, spans: spans, attempts: 0)
        if walkingQueue {
            // `sendQueued` is walking the queue by index: appending is safe, dropping from the front is not. Over
            // the cap (rare: `drainWhileWaiting` stops well before it), this newest payload is the one dropped.
            if queuedBytes + payload.size > configuration.bufferCapBytes {
                statistics.spansDroppedBufferFull += UInt64(payload.spans)
                queuedBytes += payload.size
                recycle(payload)
                logOnce("buffer-full-newest", "trace buffer is full (\(configuration.bufferCapBytes) bytes) while the agent is slow to answer; dropping the newest payload")
                return
            }
        }
        queue.append(payload)
        queuedBytes += payload.size
        if queue.count > Self.maxSpareBuffers { queueLastLongAt = ddtrace_monotonic_ns() }
        if !walkingQueue { enforceBufferCap() }
        statistics.peakBufferedBytes = max(statistics.peakBufferedBytes, UInt64(queuedBytes))
    }

    /// Over the cap (the agent is down or slow): drops the oldest queued payloads first, counted, never the newest.
    private func enforceBufferCap() {
        while queuedBytes > configuration.bufferCapBytes, queue.count > 1 {
            let dropped = queue.removeFirst()
            statistics.spansDroppedBufferFull += UInt64(dropped.spans)
            recycle(dropped)
            logOnce("buffer-full", "trace buffer is full (\(configuration.bufferCapBytes) bytes); dropping the oldest payloads")
        }
    }

    private static func makeBuffer() -> UnsafeMutablePointer<ddtrace_mpbuf> {
        let buffer = UnsafeMutablePointer<ddtrace_mpbuf>.allocate(capacity: 1)
        ddtrace_mpbuf_init(buffer, 1 << 20)
        return buffer
    }

    /// Frees a buffer of `makeBuffer` (or one the encoder handed over): its storage, then the struct.
    private static func freeBuffer(_ buffer: UnsafeMutablePointer<ddtrace_mpbuf>) {
        ddtrace_mpbuf_destroy(buffer)
        buffer.deallocate()
    }

    /// Takes a payload out of the queue's accounting and keeps its buffer for reuse (see `spareBuffers`).
    private func recycle(_ payload: QueuedPayload) {
        queuedBytes -= payload.size
        payload.buffer.pointee.size = 0
        spareBuffers.append(payload.buffer)
    }

    /// Frees the spare buffers beyond `maxSpareBuffers` once the queue has been short for `spareTrimDelay`.
    private func trimSpareBuffers(now: Int64) {
        guard spareBuffers.count > Self.maxSpareBuffers, now - queueLastLongAt >= Self.spareTrimDelay else { return }
        while spareBuffers.count > Self.maxSpareBuffers { Self.freeBuffer(spareBuffers.removeLast()) }
    }

    /// Sends queued payloads in order. Stops at the first transport failure (the agent is unreachable: the rest
    /// would fail too) and then waits a flush interval before trying again, unless `force` (an explicit flush),
    /// which still makes at most one attempt per payload.
    ///
    /// Unless `force`, the rings are drained while each request waits for its response (`drainWhileWaiting`); the
    /// payloads sealed meanwhile wait for the next call, so that a steady load cannot keep this loop going (and
    /// flush requests waiting). An explicit flush sends without draining: it reports on what was finished before it.
    private func sendQueued(force: Bool) {
        if !force && ddtrace_monotonic_ns() < retryNotBefore { return }
        walkingQueue = true
        defer {
            walkingQueue = false
            enforceBufferCap()
        }
        var index = 0
        // Payloads of this pass not yet dealt with (those sealed while waiting are appended after them).
        var remaining = queue.count
        while index < queue.count, remaining > 0 {
            queue[index].attempts += 1
            let payload = queue[index]
            waitingForAgent = !force
            let outcome = payload.prefix.withUnsafeBytesIfPresent { prefix in
                agent.sendTraces(
                    payload.bytes, prefix: prefix, traceCount: payload.chunks,
                    apiPath: (payload.prefix == nil ? TraceAPIVersion.v04 : .v05).path)
            }
            waitingForAgent = false
            switch outcome {
            case .success(let response):
                statistics.lastStatus = response.status
                if payload.prefix != nil && (response.status == 404 || response.status == 415) {
                    // An agent without /v0.5/traces (or one that rejects its media type): switch to v0.4 for good
                    // and convert what is already encoded, so that nothing is lost (dd-trace-py drops it).
                    statistics.responseErrors += 1
                    downgradeToV04(status: response.status)
                    continue
                }
                if response.status == 413 {
                    // The agent's limit is lower than ours: lower ours for what comes next, and resend this
                    // payload as two halves split at a chunk boundary. A v0.5 payload is converted to v0.4 first:
                    // each half would otherwise carry the whole string table.
                    maxPayloadBytes = max(64 << 10, maxPayloadBytes / 2)
                    statistics.responseErrors += 1
                    logOnce("status-413", "the agent refused a payload as too large (413); splitting payloads")
                    if payload.prefix != nil, let converted = convertToV04(payload) {
                        recycle(payload)
                        queue[index] = converted
                        queuedBytes += converted.size
                    }
                    if let halves = split(queue[index]) {
                        recycle(queue[index])
                        queue.replaceSubrange(index...index, with: [halves.0, halves.1])
                        queuedBytes += halves.0.size + halves.1.size
                        remaining += 1
                        continue
                    }
                }
                remaining -= 1
                if handle(response: response, payload: queue[index]) {
                    recycle(queue.remove(at: index))
                    continue
                }
                index += 1
            case .failure(let error):
                statistics.requestErrors += 1
                statistics.lastError = error.description
                retryNotBefore = ddtrace_monotonic_ns() + configuration.flushIntervalNanoseconds
                logOnce("send-\(error.description)", "failed to send traces to the agent at \(configuration.agent): \(error)")
                if queue[index].attempts >= Flusher.maxSendAttempts {
                    statistics.spansDroppedSendFailed += UInt64(queue[index].spans)
                    recycle(queue.remove(at: index))
                    remaining -= 1
                    continue
                }
                return
            }
        }
    }

    /// Splits an encoded payload into two at the chunk boundary nearest its middle, or returns nil for a payload of
    /// one chunk (which is then dropped as rejected: a single trace chunk above the agent's limit).
    private func split(_ payload: QueuedPayload) -> (QueuedPayload, QueuedPayload)? {
        guard payload.chunks >= 2 else { return nil }
        let bytes = payload.bytes
        let base = bytes.baseAddress!.assumingMemoryBound(to: CChar.self)
        var offsets: [Int] = []  // start of each chunk
        var spansPerChunk: [Int] = []
        var offset = TraceEncoder.payloadHeaderSize
        while offset < bytes.count {
            let size = ddtrace_mp_object_size(base + offset, bytes.count - offset)
            guard size > 0 else { return nil }
            offsets.append(offset)
            spansPerChunk.append(Self.arrayCount(bytes, at: offset))
            offset += size
        }
        guard offsets.count == payload.chunks else { return nil }
        let middle = offsets.count / 2
        let prefix = payload.prefix
        func make(_ range: Range<Int>) -> QueuedPayload {
            let buffer = spareBuffers.popLast() ?? Self.makeBuffer()
            buffer.pointee.size = 0
            let start = offsets[range.lowerBound]
            let end = range.upperBound < offsets.count ? offsets[range.upperBound] : bytes.count
            var header: (UInt8, UInt8, UInt8, UInt8, UInt8) = (0xdd, 0, 0, 0, 0)
            withUnsafeBytes(of: &header) { _ = ddtrace_mp_raw(buffer, $0.baseAddress, 5) }
            ddtrace_mpbuf_patch_u32_header(buffer, 0, 0xdd, UInt32(range.count))
            _ = ddtrace_mp_raw(buffer, base + start, end - start)
            return QueuedPayload(
                buffer: buffer, prefix: prefix, chunks: range.count, spans: spansPerChunk[range].reduce(0, +),
                attempts: 0)
        }
        return (make(0..<middle), make(middle..<offsets.count))
    }

    /// After a 404/415 to /v0.5/traces: seals the open payload, re-encodes every queued v0.5 payload as v0.4
    /// (ddtrace_mp_v05_to_v04) and encodes v0.4 from now on. A payload that cannot be converted is dropped and
    /// counted as rejected.
    private func downgradeToV04(status: Int) {
        logger.warning(
            "the agent at \(configuration.agent) answered \(status) to /v0.5/traces; using /v0.4/traces from now on")
        sealPayload()
        encoder.switchFormat(to: .v04)
        statistics.apiVersion = .v04
        var converted: [QueuedPayload] = []
        for payload in queue {
            guard payload.prefix != nil else {
                converted.append(payload)
                continue
            }
            let replacement = convertToV04(payload)
            recycle(payload)
            if let replacement {
                queuedBytes += replacement.size
                converted.append(replacement)
            } else {
                statistics.spansDroppedRejected += UInt64(payload.spans)
            }
        }
        queue = converted
    }

    /// The v0.4 form of a v0.5 payload, in a new buffer (the caller recycles the original and accounts for the
    /// new size); nil, logged once, if it cannot be converted.
    private func convertToV04(_ payload: QueuedPayload) -> QueuedPayload? {
        guard let prefix = payload.prefix, prefix.count > 1 else { return nil }
        let buffer = spareBuffers.popLast() ?? Self.makeBuffer()
        buffer.pointee.size = 0
        buffer.pointee.failed = 0
        // The prefix is 0x92 then the dictionary array.
        let result = prefix.withUnsafeBytes { dictionary in
            ddtrace_mp_v05_to_v04(
                dictionary.baseAddress!.assumingMemoryBound(to: CChar.self) + 1, dictionary.count - 1,
                payload.buffer.pointee.data, payload.buffer.pointee.size, buffer)
        }
        guard result == 0 else {
            logOnce("v05-convert", "could not convert a v0.5 payload to v0.4; its spans were dropped")
            buffer.pointee.size = 0
            spareBuffers.append(buffer)
            return nil
        }
        return QueuedPayload(buffer: buffer, prefix: nil, chunks: payload.chunks, spans: payload.spans, attempts: payload.attempts)
    }

    /// The element count of the msgpack array header at `offset`.
    private static func arrayCount(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int {
        let marker = bytes[offset]
        switch marker {
        case 0x90...0x9f: return Int(marker & 0x0f)
        case 0xdc: return Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
        case 0xdd:
            return (1...4).reduce(0) { $0 << 8 | Int(bytes[offset + $1]) }
        default: return 0
        }
    }

    /// Interprets an agent response. Returns true when the payload is done with (sent or dropped for good).
    private func handle(response: AgentResponse, payload: QueuedPayload) -> Bool {
        switch response.status {
        case 200..<300:
            statistics.lastError = ""
            statistics.payloadsSent += 1
            statistics.chunksSent += UInt64(payload.chunks)
            statistics.spansSent += UInt64(payload.spans)
            if let rates = parseRateByService(response.body) { sampler.update(rateByService: rates) }
            return true
        case 400..<500 where response.status != 408 && response.status != 429:
            statistics.responseErrors += 1
            statistics.spansDroppedRejected += UInt64(payload.spans)
            statistics.lastError = "agent answered \(response.status)"
            let body = String(decoding: response.body.prefix(300), as: UTF8.self)
            logOnce("status-\(response.status)", "the agent rejected a payload with status \(response.status): \(body)")
            return true
        default:
            // 408, 429, 5xx: retry later, a bounded number of times.
            statistics.responseErrors += 1
            statistics.lastError = "agent answered \(response.status)"
            if payload.attempts >= Flusher.maxSendAttempts {
                statistics.spansDroppedSendFailed += UInt64(payload.spans)
                return true
            }
            return false
        }
    }

    // MARK: Releasing slots

    /// Slots waiting to go back to their pool: a chain through `next` for one pool at a time, so that a chunk
    /// whose spans all came from one thread (the common case) costs one CAS on that pool's free stack.
    @exclusivity(unchecked) private var releaseChain: (pool: UnsafeMutablePointer<SlotPool>, first: SlotPointer, last: SlotPointer)?

    /// Bumps the generation of a span about to be released (not only at reuse), so that stale handles stop
    /// matching before the fields they might read are torn down. Returns whether a child on another thread may
    /// be reading its service; then `awaitServiceReaders` must run before `release`.
    private func retire(_ span: SlotPointer) -> Bool {
        bumpGeneration(span)
        return span.serviceState.load(ordering: .relaxed) != ServiceState.unset
    }

    /// A relaxed load and a releasing store, not a read-modify-write: the flusher is the slot's only writer now.
    /// The fence after it orders the bump before `SpanSlot.clear`'s writes too, for a reader that copies the
    /// fields of a slot it does not own and checks the generation again after them (`DDSpan(openSlot:)`). Neither
    /// costs an instruction on x86; on ARM the fence keeps the two stores in order.
    @inline(__always) private func bumpGeneration(_ slot: SlotPointer) {
        slot.generation.store(slot.generation.load(ordering: .relaxed) &+ 1, ordering: .releasing)
        atomicMemoryFence(ordering: .releasing)
    }

    /// Clears a retired span's slot and its overflow-tag carriers and queues them for their pool.
    private func release(_ span: SlotPointer) {
        var carrier: SlotPointer? = span
        while let current = carrier {
            // Carriers are retired here: no handle refers to them, and no child reads their service.
            if current != span { bumpGeneration(current) }
            carrier = SpanSlot.clear(current, canSkipUnowned: canSkipUnowned)
            enqueueRelease(current)
        }
    }

    @inline(__always) private func enqueueRelease(_ slot: SlotPointer) {
        let pool = slot.pointee.pool
        if let chain = releaseChain, chain.pool == pool {
            slot.pointee.next = chain.first
            releaseChain = (pool, slot, chain.last)
        } else {
            flushReleases()
            slot.pointee.next = nil
            releaseChain = (pool, slot, slot)
        }
    }

    /// Hands the pending chain back to its pool. Called after each chunk, so slots return promptly.
    private func flushReleases() {
        guard let chain = releaseChain else { return }
        releaseChain = nil
        chain.pool.giveBack(first: chain.first, last: chain.last)
    }

    private func logOnce(_ key: String, _ message: @autoclosure () -> String) {
        guard !loggedOnce.contains(key) else { return }
        loggedOnce.insert(key)
        logger.warning("\(message())")
    }
}

extension Optional where Wrapped == [UInt8] {
    /// Calls `body` with the bytes of the array, or with nil.
    fileprivate func withUnsafeBytesIfPresent<Result>(_ body: (UnsafeRawBufferPointer?) -> Result) -> Result {
        switch self {
        case .some(let bytes): bytes.withUnsafeBytes { body($0) }
        case .none: body(nil)
        }
    }
}
