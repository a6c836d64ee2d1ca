#pragma once
// A log-linear histogram in the manner of HdrHistogram: values (microseconds
// here) are bucketed by their highest set bit, each power of two split into
// 64 linear sub-buckets, so any recorded value is known to within 1/64
// (~1.6 %). Fixed size, no allocation while recording; one per thread,
// merged after the threads have stopped.

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace tlsync::loadtest {

class histogram {
  public:
    static constexpr int sub_bits = 6;
    static constexpr std::uint64_t sub_count = 1u << sub_bits;
    static constexpr int max_bits = 40; // ~12.7 days in µs; larger values are clamped

    void record(std::uint64_t v) noexcept {
        ++counts_[index_of(v)];
        ++total_;
        sum_ += v;
        max_ = std::max(max_, v);
        min_ = std::min(min_, v);
    }

    void merge(const histogram& o) noexcept {
        for (std::size_t i = 0; i < counts_.size(); ++i)
            counts_[i] += o.counts_[i];
        total_ += o.total_;
        sum_ += o.sum_;
        max_ = std::max(max_, o.max_);
        min_ = std::min(min_, o.min_);
    }

    [[nodiscard]] std::uint64_t count() const noexcept { return total_; }
    [[nodiscard]] std::uint64_t max() const noexcept { return total_ ? max_ : 0; }
    [[nodiscard]] std::uint64_t min() const noexcept { return total_ ? min_ : 0; }
    [[nodiscard]] double mean() const noexcept {
        return total_ ? static_cast<double>(sum_) / static_cast<double>(total_) : 0;
    }

    // The value at quantile q in [0, 1]: the highest value of the bucket that
    // holds the q-th sample, capped by the true maximum.
    [[nodiscard]] std::uint64_t quantile(double q) const noexcept {
        if (total_ == 0) return 0;
        auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.5);
        rank = std::clamp<std::uint64_t>(rank, 1, total_);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= rank) return std::min(highest_of(i), max_);
        }
        return max_;
    }

  private:
    static constexpr std::size_t buckets = (max_bits - sub_bits + 1) * sub_count;

    static std::size_t index_of(std::uint64_t v) noexcept {
        if (v < sub_count) return static_cast<std::size_t>(v);
        const int msb = 63 - std::countl_zero(v);
        const int shift = msb - sub_bits + 1; // >= 1
        if (msb >= max_bits) return buckets - 1;
        // Row `shift` holds [2^(msb), 2^(msb+1)) in sub_count/2 .. sub_count-1 sub-buckets.
        return static_cast<std::size_t>(shift) * sub_count / 2 + sub_count / 2 +
               static_cast<std::size_t>((v >> shift) - sub_count / 2);
    }

    static std::uint64_t highest_of(std::size_t i) noexcept {
        if (i < sub_count) return i;
        const std::size_t row = (i - sub_count / 2) / (sub_count / 2); // == shift
        const std::size_t sub = (i - sub_count / 2) % (sub_count / 2) + sub_count / 2;
        return ((static_cast<std::uint64_t>(sub) + 1) << row) - 1;
    }

    std::array<std::uint64_t, buckets> counts_{};
    std::uint64_t total_ = 0;
    std::uint64_t sum_ = 0;
    std::uint64_t max_ = 0;
    std::uint64_t min_ = UINT64_MAX;
};

} // namespace tlsync::loadtest
