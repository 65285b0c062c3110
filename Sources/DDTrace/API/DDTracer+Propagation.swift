import Atomics

extension DDTracer {
    /// Injects `context` into outgoing request headers with the configured propagation styles
    /// (`DD_TRACE_PROPAGATION_STYLE_INJECT`, default `datadog,tracecontext,baggage`).
    ///
    /// The trace's sampling decision is made first if it was not made yet, and kept for the whole trace, so that
    /// the downstream service receives the same decision the agent will see (dd-trace-py does the same).
    @discardableResult
    public func inject(_ context: DDTraceContext, into carrier: inout some DDHeaderCarrier) -> DDInjectionResult {
        propagator.inject(contextForInjection(context), into: &carrier)
    }

    /// Injects the context of `span` (see `inject(_:into:)`).
    @discardableResult
    public func inject(_ span: DDSpan, into carrier: inout some DDHeaderCarrier) -> DDInjectionResult {
        inject(span.context, into: &carrier)
    }

    /// Extracts a context from incoming request headers with the configured propagation styles
    /// (`DD_TRACE_PROPAGATION_STYLE_EXTRACT`). Malformed headers never throw: they give nil, or a context whose
    /// `propagationError` says what was discarded.
    public func extract(from carrier: some DDHeaderCarrier) -> DDTraceContext? {
        propagator.extract(from: carrier)
    }

    /// `context` with the trace's sampling decision made (once per trace) and recorded in it.
    func contextForInjection(_ context: DDTraceContext) -> DDTraceContext {
        var context = context
        let sampler = flusher.sampler
        // Only an open local span guarantees that its trace's root slot is not recycled while we use it.
        guard let span = context.localSpan, span.holdsOpenSpan(generation: context.localSpanGeneration),
            let root = context.root, root.holds(generation: context.rootGeneration)
        else {
            if context.samplingPriority == nil {
                let decision = sampler.decide(
                    root: nil, traceIdLow: context.traceId.low, manual: unsetSamplingPriority,
                    inherited: unsetSamplingPriority, service: "")
                record(decision, in: &context)
            }
            return context
        }
        var packed = root.presetDecision.load(ordering: .acquiring)
        if SamplingDecision(packed: packed, rate: 1) == nil {
            let decision = sampler.decide(
                root: root, traceIdLow: root.pointee.traceIdLow, manual: span.pointee.samplingPriority,
                inherited: root.pointee.inheritedPriority, service: root.pointee.service)
            // The rates travel with the decision for the flusher's `_dd.rule_psr`/`_dd.limit_psr`; they are written
            // before the CAS publishes it (release), so the flusher's acquiring load sees them. (Two threads
            // injecting for one trace at the same instant may leave the loser's rates: tags only, never the
            // decision.)
            root.pointee.presetRate = decision.rate
            root.pointee.presetLimitRate = decision.limitRate ?? -1
            // First decision wins: another thread injecting for the same trace, or the flusher, may have made it.
            let (exchanged, original) = root.presetDecision.compareExchange(
                expected: 0, desired: decision.packed, ordering: .acquiringAndReleasing)
            packed = exchanged ? decision.packed : original
        }
        if let decision = SamplingDecision(packed: packed, rate: 1) { record(decision, in: &context) }
        return context
    }

    private func record(_ decision: SamplingDecision, in context: inout DDTraceContext) {
        context.samplingPriority = DDSamplingPriority(rawValue: Int(decision.priority))
        if let decisionMaker = decision.decisionMaker, context.propagatedTags["_dd.p.dm"] == nil {
            context.propagatedTags["_dd.p.dm"] = decisionMaker.description
        }
    }
}
