#include "probes.h"

#include <Arduino.h>

namespace {
const uint8_t CONVERT_T = 0x44;
const uint8_t READ_SCRATCHPAD = 0xBE;
const uint8_t WRITE_SCRATCHPAD = 0x4E;  // RAM only; 0x48 (Copy Scratchpad) is never sent
const uint8_t RECALL_EEPROM = 0xB8;     // EEPROM -> scratchpad (reads EEPROM only)
const uint8_t READ_POWER_SUPPLY = 0xB4;
const uint8_t CONFIG_12_BIT = 0x7F;

bool supported(uint8_t family) { return family == 0x28 || family == 0x22; }  // DS18B20, DS1822
}  // namespace

Probes::Probes(OneWireBus &bus)
    : bus_(bus),
      configured_(0),
      count_(0),
      phase_(IDLE),
      next_(0),
      cycles_(0),
      started_(false),
      present_(false),
      shorted_(false),
      parasite_(false),
      foundNew_(false),
      cycleStart_(0) {}

void Probes::begin() {
  bus_.begin();
  shorted_ = bus_.reset() == OneWireBus::SHORTED;
  bus_.resetSearch();
  while (searchStep()) {
  }
  foundNew_ = false;
  phase_ = IDLE;
}

Probes::Event Probes::poll(uint32_t nowMs, ProbeReading &reading) {
  switch (phase_) {
    case IDLE:
      if (!started_ || nowMs - cycleStart_ >= PERIOD_MS) startCycle(nowMs);
      return NOTHING;
    case CONVERTING:
      if (nowMs - cycleStart_ < CONVERSION_MS) return NOTHING;
      if (parasite_) bus_.power(false);
      phase_ = READING_PROBES;
      next_ = 0;
      return NOTHING;
    case READING_PROBES:
      if (next_ < count_) {
        reading.index = next_;
        reading.raw = 0;
        reading.error = present_ ? readProbe(next_, reading.raw) : PROBE_NC;
        next_++;
        return READING;
      }
      cycles_++;
      if (count_ == 0 || cycles_ >= RESCAN_CYCLES) {
        cycles_ = 0;
        bus_.resetSearch();
        foundNew_ = false;
        phase_ = SEARCHING;
      } else {
        phase_ = IDLE;
      }
      return CYCLE_DONE;
    case SEARCHING:
      if (searchStep()) return NOTHING;
      phase_ = IDLE;
      if (!foundNew_) return NOTHING;
      foundNew_ = false;
      return FOUND_NEW;
  }
  return NOTHING;
}

void Probes::startCycle(uint32_t nowMs) {
  started_ = true;
  cycleStart_ = nowMs;
  OneWireBus::Presence presence = bus_.reset();
  shorted_ = presence == OneWireBus::SHORTED;
  present_ = presence == OneWireBus::PRESENT;
  if (!present_ || count_ == 0) {
    phase_ = READING_PROBES;  // every known probe reports nc at once
    next_ = 0;
    return;
  }
  bus_.skip();
  bus_.write(CONVERT_T);
  if (parasite_) bus_.power(true);  // parasite probes draw their power from the line
  phase_ = CONVERTING;
}

bool Probes::readScratchpad(uint8_t index, uint8_t pad[9]) {
  if (bus_.reset() != OneWireBus::PRESENT) return false;
  bus_.select(roms_[index]);
  bus_.write(READ_SCRATCHPAD);
  for (uint8_t i = 0; i < 9; i++) pad[i] = bus_.read();
  return true;
}

ProbeError Probes::readProbe(uint8_t index, int16_t &raw) {
  uint8_t pad[9];
  if (!readScratchpad(index, pad)) return PROBE_NC;
  uint8_t ones = 0xFF;
  for (uint8_t i = 0; i < 9; i++) ones &= pad[i];
  if (ones == 0xFF) return PROBE_NC;  // nobody drove the line: the probe did not answer
  if (crc8(pad, 8) != pad[8]) return PROBE_CRC;
  if ((pad[4] & 0x9F) != 0x1F) return PROBE_CRC;  // not a configuration byte: bad data
  if (!(configured_ & (1 << index)) || pad[3] != markers_[index] || pad[4] != CONFIG_12_BIT) {
    configure(index);
    return PROBE_CONV;
  }
  raw = (int16_t)(((uint16_t)pad[1] << 8) | pad[0]);
  return PROBE_OK;
}

bool Probes::configure(uint8_t index) {
  configured_ &= ~(1 << index);
  if (bus_.reset() != OneWireBus::PRESENT) return false;
  bus_.select(roms_[index]);
  bus_.write(RECALL_EEPROM);  // start from the EEPROM's TH/TL, as after power-up
  for (uint8_t i = 0; i < 50 && !bus_.readBit(); i++) {
  }
  uint8_t pad[9];
  if (!readScratchpad(index, pad) || crc8(pad, 8) != pad[8]) return false;
  uint8_t marker = ~pad[3];  // differs from what a power-up restores
  if (bus_.reset() != OneWireBus::PRESENT) return false;
  bus_.select(roms_[index]);
  bus_.write(WRITE_SCRATCHPAD);
  bus_.write(pad[2]);
  bus_.write(marker);
  bus_.write(CONFIG_12_BIT);
  markers_[index] = marker;
  configured_ |= 1 << index;
  return true;
}

bool Probes::known(const uint8_t rom[8]) const {
  for (uint8_t i = 0; i < count_; i++) {
    if (memcmp(roms_[i], rom, 8) == 0) return true;
  }
  return false;
}

bool Probes::searchStep() {
  uint8_t rom[8];
  if (!bus_.search(rom)) {
    if (foundNew_) detectParasite();
    return false;
  }
  if (crc8(rom, 7) != rom[7] || !supported(rom[0]) || known(rom) || count_ >= MAX_PROBES) {
    return true;
  }
  memcpy(roms_[count_], rom, 8);
  count_++;
  configure(count_ - 1);
  foundNew_ = true;
  return true;
}

void Probes::detectParasite() {
  if (bus_.reset() != OneWireBus::PRESENT) return;
  bus_.skip();
  bus_.write(READ_POWER_SUPPLY);
  parasite_ = !bus_.readBit();  // a parasite-powered probe pulls this slot low
}
