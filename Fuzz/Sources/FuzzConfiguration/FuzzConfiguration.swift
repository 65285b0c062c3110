// libFuzzer entry point. The harness and its invariants are `DDFuzzing.configuration` in
// Sources/DDTrace/API/FuzzingSupport.swift, so that regression tests replay inputs through the same code.
@_spi(Fuzzing) import DDTrace

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    DDFuzzing.configuration(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
