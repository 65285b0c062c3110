import Testing

@testable import DDTrace

@Suite("SamplingRule rate limiter")
struct SamplingRuleLimiterTests {
    static let second: Int64 = 1_000_000_000

    @Test("A full bucket allows a burst of `limit`, then nothing until tokens come back")
    func burst() {
        let clock = ManualClock(Self.second)
        let limiter = SamplingRateLimiter(rateLimit: 10, clock: clock.read)
        let burst = (0..<15).map { _ in limiter.allow().allowed }
        #expect(burst == Array(repeating: true, count: 10) + Array(repeating: false, count: 5))
    }

    @Test("Tokens come back at `limit` per second, up to a full bucket")
    func refill() {
        let clock = ManualClock(Self.second)
        let limiter = SamplingRateLimiter(rateLimit: 10, clock: clock.read)
        for _ in 0..<10 { _ = limiter.allow() }
        #expect(!limiter.allow().allowed)
        clock.advance(Self.second / 10)  // one token
        #expect(limiter.allow().allowed)
        #expect(!limiter.allow().allowed)
        clock.advance(Self.second / 20)  // half a token
        #expect(!limiter.allow().allowed)
        clock.advance(Self.second / 20)
        #expect(limiter.allow().allowed)
        clock.advance(60 * Self.second)  // long idle: capped at the bucket size
        #expect((0..<12).filter { _ in limiter.allow().allowed }.count == 10)
    }

    @Test("A full bucket accrues nothing while idle (dd-trace-py moves the timestamp anyway)")
    func fullBucketClock() {
        let clock = ManualClock(0)
        let limiter = SamplingRateLimiter(rateLimit: 2, clock: clock.read)
        clock.advance(10 * Self.second)
        #expect(limiter.allow().allowed)  // full: 2 → 1, timestamp moved to now
        #expect(limiter.allow().allowed)  // 1 + 0 elapsed → 0
        #expect(!limiter.allow().allowed)
    }

    @Test("Effective rate: allowed/seen in the window, averaged with the previous window")
    func effectiveRate() {
        let clock = ManualClock(Self.second)
        let limiter = SamplingRateLimiter(rateLimit: 2, clock: clock.read)
        #expect(limiter.effectiveRate == 1, "no call yet")
        for _ in 0..<4 { _ = limiter.allow() }  // 2 of 4
        #expect(limiter.effectiveRate == 0.5)
        clock.advance(Self.second)  // new window; the bucket is full again
        let (allowed, rate) = limiter.allow()
        #expect(allowed)
        #expect(rate == (1 + 0.5) / 2)
        clock.advance(Self.second / 2)  // same window: one more token, allowed
        #expect(limiter.allow() == (true, 0.75))
        clock.advance(Self.second / 2)  // window of 2/2 ends; this one is the third window
        #expect(limiter.allow().effectiveRate == (1 + 1) / 2)
    }

    @Test("Limit 0 allows nothing; a negative limit allows everything; both still count")
    func extremes() {
        let clock = ManualClock(Self.second)
        let none = SamplingRateLimiter(rateLimit: 0, clock: clock.read)
        #expect((0..<5).allSatisfy { _ in !none.allow().allowed })
        #expect(none.effectiveRate == 0)
        let all = SamplingRateLimiter(rateLimit: -1, clock: clock.read)
        #expect((0..<500).allSatisfy { _ in all.allow().allowed })
        #expect(all.effectiveRate == 1)
    }

    @Test("A fractional limit (max_per_second 2.5)")
    func fractional() {
        let clock = ManualClock(Self.second)
        let limiter = SamplingRateLimiter(rateLimit: 2.5, clock: clock.read)
        #expect((0..<4).map { _ in limiter.allow().allowed } == [true, true, false, false])
        clock.advance(Self.second / 5)  // 0.5 + 0.5 = 1 token
        #expect(limiter.allow().allowed)
    }

    @Test("Threads share the budget exactly")
    func threads() async {
        let clock = ManualClock(Self.second)
        let limiter = SamplingRateLimiter(rateLimit: 1000, clock: clock.read)
        let allowed = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask { (0..<500).filter { _ in limiter.allow().allowed }.count }
            }
            return await group.reduce(0, +)
        }
        #expect(allowed == 1000)
        #expect(limiter.effectiveRate == 0.25)
    }
}
