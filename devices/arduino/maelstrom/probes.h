// DS18B20 probes on one 1-Wire bus, read without blocking: the reading cycle is a
// small state machine that does at most one bus transaction per poll().
//
// Every PERIOD_MS: one Convert T to all probes at once (Skip ROM), come back after
// CONVERSION_MS (12-bit), then read one scratchpad per poll. Every RESCAN_CYCLES
// cycles (every cycle while none is known) a Search ROM looks for new probes, one
// per poll. A probe keeps its index for as long as the board runs: an unplugged one
// reports "nc"; a new one is appended, so the host's mapping never shifts.
//
// Only the scratchpad (RAM) is ever written, never the probe's EEPROM (no Copy
// Scratchpad). The scratchpad's TL byte carries a marker: a probe that lost power
// since it was configured comes back with its EEPROM value there, and with the
// power-on 85.0 C in its temperature register, so that reading is reported as
// "conv" instead of being passed on as a real 85.0 C.
#ifndef MAELSTROM_PROBES_H
#define MAELSTROM_PROBES_H

#include <stdint.h>

#include "onewire.h"

enum ProbeError : uint8_t {
  PROBE_OK = 0,
  PROBE_NC,    // no answer: unplugged, broken wire
  PROBE_CRC,   // scratchpad corrupted on the wire
  PROBE_CONV,  // the probe restarted (power dip): no conversion behind this value
};

struct ProbeReading {
  uint8_t index;
  int16_t raw;  // 1/16 C, valid when error == PROBE_OK
  ProbeError error;
};

class Probes {
 public:
  static const uint8_t MAX_PROBES = 8;
  static const uint16_t PERIOD_MS = 1000;
  static const uint16_t CONVERSION_MS = 750;  // DS18B20 datasheet, 12-bit
  static const uint8_t RESCAN_CYCLES = 10;

  enum Event : uint8_t {
    NOTHING,
    READING,     // `reading` holds a probe's result
    CYCLE_DONE,  // every probe has been read this cycle
    FOUND_NEW,   // a search added probes: the IO list changed
  };

  explicit Probes(OneWireBus &bus);
  void begin();  // finds the probes present at start-up (blocking, ~15 ms each)
  Event poll(uint32_t nowMs, ProbeReading &reading);

  uint8_t count() const { return count_; }
  const uint8_t *rom(uint8_t index) const { return roms_[index]; }
  bool parasite() const { return parasite_; }
  bool shorted() const { return shorted_; }

 private:
  enum Phase : uint8_t { IDLE, CONVERTING, READING_PROBES, SEARCHING };

  void startCycle(uint32_t nowMs);
  ProbeError readProbe(uint8_t index, int16_t &raw);
  bool readScratchpad(uint8_t index, uint8_t pad[9]);
  bool configure(uint8_t index);
  bool searchStep();  // false when the search is over
  bool known(const uint8_t rom[8]) const;
  void detectParasite();

  OneWireBus &bus_;
  uint8_t roms_[MAX_PROBES][8];
  uint8_t markers_[MAX_PROBES];
  uint8_t configured_;  // bit per probe: marker written
  uint8_t count_;
  Phase phase_;
  uint8_t next_;
  uint8_t cycles_;
  bool started_;
  bool present_;  // the bus answered this cycle's reset
  bool shorted_;
  bool parasite_;
  bool foundNew_;
  uint32_t cycleStart_;
};

#endif
