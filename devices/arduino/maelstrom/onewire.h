// A small 1-Wire master for one bus pin (bit-banged), enough for DS18B20 probes:
// reset/presence, bit and byte slots, ROM select, the search ROM algorithm
// (Maxim application note 187) and the Dallas/Maxim CRC-8.
//
// The pin is released (input, no internal pull-up) between slots: the bus needs an
// external 4.7 kOhm pull-up to 5 V. `power(true)` drives the line high for
// parasite-powered probes while they convert.
#ifndef MAELSTROM_ONEWIRE_H
#define MAELSTROM_ONEWIRE_H

#include <stdint.h>

// CRC-8/MAXIM (poly x^8+x^5+x^4+1, reflected 0x8C, init 0): the 1-Wire ROM and
// scratchpad CRC, and the checksum of every serial protocol line.
uint8_t crc8(const uint8_t *data, uint8_t len);

class OneWireBus {
 public:
  enum Presence : uint8_t { PRESENT, ABSENT, SHORTED };

  explicit OneWireBus(uint8_t pin);
  void begin();

  // Reset pulse; PRESENT when at least one device answered. SHORTED when the line
  // never went high (no pull-up, or data shorted to ground).
  Presence reset();
  void write(uint8_t value);
  uint8_t read();
  bool readBit();
  void select(const uint8_t rom[8]);  // Match ROM
  void skip();                        // Skip ROM: address every device
  void power(bool on);                // strong pull-up (parasite power) or release

  // Search ROM, one device per call: start with resetSearch(), then call search()
  // until it returns false. The ROM's CRC is not checked here.
  void resetSearch();
  bool search(uint8_t rom[8]);

 private:
  void writeBit(bool bit);
  void low();
  void release();
  bool level() const;

  uint8_t mask_;
  volatile uint8_t *in_;
  volatile uint8_t *mode_;
  volatile uint8_t *out_;
  uint8_t rom_[8];
  uint8_t lastDiscrepancy_;
  bool lastDevice_;
};

#endif
