// Context management with ddtrace's semantics: one active span or context per execution, implicit parenting,
// the parent active again when a span finishes, task inheritance, opting out, hand-offs, and misuse.

import Dispatch
import Foundation
import Synchronization
import Testing

@testable import DDTrace

/// A tracer that never reaches an agent (nothing here needs one): spans are recorded, never sent.
func offlineTracer(contextProvider: any DDContextProvider = DDTaskLocalContextProvider()) throws -> DDTracer {
    var configuration = DDTracerConfiguration(environment: [:])
    configuration.agentURL = "http://127.0.0.1:9"
    configuration.service = "context-test"
    configuration.strict = true
    return try DDTracer(configuration: configuration, contextProvider: contextProvider)
}

extension DDSpan {
    /// The parent id recorded in the span's slot (while the span is open).
    var recordedParentId: UInt64? { openSlot?.pointee.parentId }
}

/// Resumes on a thread of Dispatch's global pool, so that the awaiting task may come back elsewhere.
func hopThreads() async {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume() }
    }
}

/// A task executor that runs every job on its own dedicated thread, to force a task onto a known thread.
final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let jobs = Mutex<[UnownedJob]>([])
    private let available = DispatchSemaphore(value: 0)
    private(set) var threadId: Int32 = 0

    init() {
        let ready = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            threadId = ddtrace_thread_id_for_tests()
            ready.signal()
            while true {
                available.wait()
                let job = jobs.withLock { $0.removeFirst() }
                job.runSynchronously(on: asUnownedTaskExecutor())
            }
        }
        thread.start()
        ready.wait()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        jobs.withLock { $0.append(unowned) }
        available.signal()
    }
}

@Suite("Context management")
struct ContextTests {
    @Test("sync: nested spans parent implicitly and the parent is active again after each child")
    func syncSequence() throws {
        let tracer = try offlineTracer()
        #expect(tracer.currentSpan() == nil)
        tracer.trace("a") { a in
            #expect(tracer.currentSpan()?.spanId == a.spanId)
            #expect(a.recordedParentId == 0)
            tracer.trace("b") { b in
                #expect(tracer.currentSpan()?.spanId == b.spanId)
                #expect(b.recordedParentId == a.spanId)
                #expect(b.traceId == a.traceId)
            }
            #expect(tracer.currentSpan()?.spanId == a.spanId)
            let c = tracer.startSpan("c")
            #expect(c.recordedParentId == a.spanId, "startSpan parents on the active span but does not activate")
            #expect(tracer.currentSpan()?.spanId == a.spanId)
            c.finish()
        }
        #expect(tracer.currentSpan() == nil)
        #expect(tracer.currentTraceContext() == nil)
        tracer.shutdown(timeout: .milliseconds(100))
    }

    @Test("finishing the active span makes its parent active again")
    func finishRestoresParent() throws {
        let tracer = try offlineTracer()
        let a = tracer.startSpan("a")
        tracer.withActiveSpan(a) {
            let b = tracer.startSpan("b")
            tracer.withActiveSpan(b) {
                #expect(tracer.currentSpan()?.spanId == b.spanId)
                b.finish()
                #expect(tracer.currentSpan()?.spanId == a.spanId, "b finished: a is active again")
                let c = tracer.startSpan("c")
                #expect(c.recordedParentId == a.spanId)
                c.finish()
                a.finish()
                #expect(tracer.currentSpan() == nil, "nothing open is left")
                let d = tracer.startSpan("d")
                #expect(d.recordedParentId == 0 && d.traceId != a.traceId, "with nothing open, a new trace starts")
                d.finish()
            }
        }
        tracer.shutdown(timeout: .milliseconds(100))
    }

    @Test("async: the active span survives suspension points and thread hops")
    func asyncSequenceWithThreadHops() async throws {
        let tracer = try offlineTracer()
        let first = DedicatedThreadExecutor()
        let second = DedicatedThreadExecutor()
        #expect(tracer.currentSpan() == nil)
        let threads = Mutex<[Int32]>([])
        await withTaskExecutorPreference(first) {
            await tracer.trace("a") { a in
                threads.withLock { $0.append(ddtrace_thread_id_for_tests()) }
                await withTaskExecutorPreference(second) {
                    // Now on the other thread, between awaits.
                    threads.withLock { $0.append(ddtrace_thread_id_for_tests()) }
                    #expect(tracer.currentSpan()?.spanId == a.spanId)
                    await tracer.trace("b") { b in
                        await hopThreads()
                        #expect(tracer.currentSpan()?.spanId == b.spanId)
                        #expect(b.recordedParentId == a.spanId)
                    }
                    #expect(tracer.currentSpan()?.spanId == a.spanId)
                }
                threads.withLock { $0.append(ddtrace_thread_id_for_tests()) }
                #expect(tracer.currentSpan()?.spanId == a.spanId)
            }
            #expect(tracer.currentSpan() == nil)
        }
        #expect(threads.withLock { $0 } == [first.threadId, second.threadId, first.threadId], "the task hopped threads")
        await tracer.flush(timeout: .milliseconds(100))
        tracer.shutdown(timeout: .milliseconds(100))
    }

    @Test("child tasks and async let inherit the active span; detached tasks do not")
    func taskInheritance() async throws {
        let tracer = try offlineTracer()
        try await tracer.trace("parent") { parent in
            async let fromAsyncLet = tracer.currentSpan()?.spanId
            let fromGroup = await withTaskGroup(of: UInt64?.self) { group in
                group.addTask { tracer.currentSpan()?.spanId }
                return await group.next()!
            }
            let fromUnstructured = await Task { tracer.currentSpan()?.spanId }.value
            let fromDetached = await Task.detached { tracer.currentSpan()?.spanId }.value
            #expect(await fromAsyncLet == parent.spanId)
            #expect(fromGroup == parent.spanId)
            #expect(fromUnstructured == parent.spanId)
            #expect(fromDetached == nil)

            // A child task's span is a child of the span active when the task was created.
            let childParent = await withTaskGroup(of: UInt64?.self) { group in
                group.addTask { tracer.trace("in.task") { span in span.recordedParentId } }
                return await group.next()!
            }
            #expect(childParent == parent.spanId)

            // A detached task continues the trace only when handed the context.
            let context = try #require(tracer.currentTraceContext())
            let handedOff = await Task.detached {
                await tracer.withActiveContext(context) {
                    await hopThreads()
                    return tracer.trace("detached.work") { span in (span.traceId, span.recordedParentId) }
                }
            }.value
            #expect(handedOff.0 == parent.traceId)
            #expect(handedOff.1 == parent.spanId)
        }
        tracer.shutdown(timeout: .milliseconds(100))
    }

    @Test("a task can opt out and start clean")
    func optOut() async throws {
        let tracer = try offlineTracer()
        await tracer.trace("parent") { parent in
            await tracer.withActiveContext(nil) {
                await hopThreads()
                #expect(tracer.currentSpan() == nil)
                tracer.trace("fresh") { fresh in
                    #expect(fresh.traceId != parent.traceId)
                    #expect(fresh.recordedParentId == 0)
                }
            }
            #expect(tracer.currentSpan()?.spanId == parent.spanId)
        }
        tracer.shutdown(timeout: .milliseconds(100))
    }

    @Test("another thread sees nothing active until handed the context")
    func otherThread() throws {
        let tracer = try offlineTracer()
        let seen = Mutex<(UInt64?, UInt64?, DDTraceID?)>((nil, nil, nil))
        tracer.trace("parent") { parent in
            let context = tracer.currentTraceContext()
            let thread = Thread {
                let before = tracer.currentSpan()?.spanId
                let (parentId, traceId) = tracer.withActiveContext(context) {
                    tracer.trace("on.thread") { span in (span.recordedParentId, span.traceId) }
                }
                seen.withLock { $0 = (before, parentId, traceId) }
            }
            thread.start()
            while !thread.isFinished { usleep(500) }
            let (before, parentId, traceId) = seen.withLock { $0 }
            #expect(before == nil)
            #expect(parentId == parent.spanId)
            #expect(traceId == parent.traceId)
        }
        tracer.shutdown(timeout: .milliseconds(100))
    }

    @Test("startSpan options: explicit parent context, tags at creation, start time, forced root")
    func startSpanOptions() throws {
        let tracer = try offlineTracer()
        let remote = DDTraceContext(
            traceId: DDTraceID(high: 0x6b07_4e7d_0000_0000, low: 42), spanId: 7, samplingPriority: .userKeep,
            origin: "synthetics", propagatedTags: ["_dd.p.dm": "-4"])
        let span = tracer.startSpan("from.remote", childOf: remote, tags: ["k": "v"], startTime: 1_700_000_000_000_000_000)
        #expect(span.traceId == remote.traceId)
        #expect(span.recordedParentId == 7)
        let context = span.context
        #expect(context.samplingPriority == .userKeep)
        #expect(context.origin == "synthetics")
        #expect(context.propagatedTags == ["_dd.p.dm": "-4"])
        #expect(span.openSlot?.metaEntries[0].key == "k")
        let start = try #require(span.openSlot?.pointee.startMonotonic)
        let offset = tracer.engine.pointer.pointee.wallClockOffset.load(ordering: .relaxed)
        #expect(start + offset == 1_700_000_000_000_000_000)
        tracer.withActiveSpan(span) {
            let root = tracer.startSpan("forced.root", ignoreActive: true)
            #expect(root.recordedParentId == 0 && root.traceId != span.traceId)
            root.finish()
        }
        span.finish()
        tracer.shutdown(timeout: .milliseconds(100))
    }

    @Test("misuse is handled: finishing twice, finishing a parent first, activating a finished span")
    func misuse() throws {
        let tracer = try offlineTracer()
        let parent = tracer.startSpan("parent")
        let child = tracer.startSpan("child", childOf: parent)
        parent.finish()
        parent.finish()  // ignored
        #expect(!parent.isRecording)
        parent.setTag("late", "ignored")  // ignored, no crash
        #expect(child.isRecording, "the child is unaffected by its parent finishing first")
        child.finish()
        #expect(tracer.counters.spansFinished == 2)
        // Activating a finished span: new spans start a new trace when no ancestor is open.
        tracer.withActiveSpan(parent) {
            #expect(tracer.currentSpan() == nil)
            let next = tracer.startSpan("next")
            #expect(next.recordedParentId == 0)
            next.finish()
        }
        tracer.shutdown(timeout: .milliseconds(100))
    }

    @Test("a custom context provider is used for activation and lookup")
    func customProvider() async throws {
        final class CountingProvider: DDContextProvider, @unchecked Sendable {
            let inner = DDTaskLocalContextProvider()
            let lookups = Mutex(0)
            let activations = Mutex(0)
            func active() -> DDActive? {
                lookups.withLock { $0 += 1 }
                return inner.active()
            }
            func withActive<T, Failure: Error>(_ value: DDActive?, _ body: () throws(Failure) -> T) throws(Failure) -> T {
                activations.withLock { $0 += 1 }
                return try inner.withActive(value, body)
            }
            func withActive<T, Failure: Error>(
                _ value: DDActive?, isolation: isolated (any Actor)?, _ body: () async throws(Failure) -> T
            ) async throws(Failure) -> T {
                activations.withLock { $0 += 1 }
                return try await inner.withActive(value, isolation: isolation, body)
            }
        }
        let provider = CountingProvider()
        let tracer = try offlineTracer(contextProvider: provider)
        await tracer.trace("a") { a in
            await hopThreads()
            tracer.trace("b") { b in #expect(b.recordedParentId == a.spanId) }
        }
        #expect(provider.activations.withLock { $0 } == 2)
        #expect(provider.lookups.withLock { $0 } >= 2)
        tracer.shutdown(timeout: .milliseconds(100))
    }
}

import CDDTraceShims

func ddtrace_thread_id_for_tests() -> Int32 { ddtrace_thread_id() }
