// Lock-free single-producer / single-consumer ring of fixed-size slots.
//
// The producer writes into the slot returned by `writeSlot()` and publishes it with
// `commitWrite()`; the consumer reads `readSlot()` and frees it with `commitRead()`.
// Indices are published with release stores and observed with acquire loads, so a
// slot's contents are fully visible to the other thread before its index is. Storage is
// allocated once in `reset()` (never on the audio thread); all other calls are wait-free.
// DPF's RingBuffer is not used: it has no atomics or memory ordering.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace bandmate {

class SpscRing {
public:
    // Not thread-safe: call while neither side is running.
    void reset(size_t slotCount, size_t slotBytes)
    {
        size_t cap = 1;
        while (cap < slotCount)
            cap <<= 1;
        slotBytes_ = (slotBytes + 63) & ~size_t(63);  // keep slots cache-line aligned
        storage_.assign(cap * slotBytes_ + 64, 0);
        base_ = storage_.data() + ((64 - reinterpret_cast<uintptr_t>(storage_.data()) % 64) % 64);
        mask_ = cap - 1;
        head_.store(0, std::memory_order_relaxed);
        tail_.store(0, std::memory_order_relaxed);
    }

    size_t capacity() const { return mask_ + 1; }
    size_t slotBytes() const { return slotBytes_; }

    // ---- producer side
    // Returns nullptr when full (the caller drops and counts; it never waits).
    uint8_t* writeSlot()
    {
        const uint64_t head = head_.load(std::memory_order_relaxed);
        if (head - tail_.load(std::memory_order_acquire) > mask_)
            return nullptr;
        return base_ + (head & mask_) * slotBytes_;
    }
    void commitWrite() { head_.store(head_.load(std::memory_order_relaxed) + 1, std::memory_order_release); }

    // ---- consumer side
    // Returns nullptr when empty.
    uint8_t* readSlot()
    {
        const uint64_t tail = tail_.load(std::memory_order_relaxed);
        if (tail == head_.load(std::memory_order_acquire))
            return nullptr;
        return base_ + (tail & mask_) * slotBytes_;
    }
    void commitRead() { tail_.store(tail_.load(std::memory_order_relaxed) + 1, std::memory_order_release); }

    size_t size() const { return head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_acquire); }

private:
    std::vector<uint8_t> storage_;
    uint8_t* base_ = nullptr;
    size_t slotBytes_ = 0;
    size_t mask_ = 0;
    alignas(64) std::atomic<uint64_t> head_{0};  // written by the producer only
    alignas(64) std::atomic<uint64_t> tail_{0};  // written by the consumer only
};

}  // namespace bandmate
