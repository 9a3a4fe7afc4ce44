#include "onewire.h"

#include <Arduino.h>

uint8_t crc8(const uint8_t *data, uint8_t len) {
  uint8_t crc = 0;
  while (len--) {
    uint8_t b = *data++;
    for (uint8_t i = 0; i < 8; i++) {
      uint8_t mix = (crc ^ b) & 0x01;
      crc >>= 1;
      if (mix) crc ^= 0x8C;
      b >>= 1;
    }
  }
  return crc;
}

OneWireBus::OneWireBus(uint8_t pin)
    : mask_(digitalPinToBitMask(pin)),
      in_(portInputRegister(digitalPinToPort(pin))),
      mode_(portModeRegister(digitalPinToPort(pin))),
      out_(portOutputRegister(digitalPinToPort(pin))),
      lastDiscrepancy_(0),
      lastDevice_(false) {}

void OneWireBus::begin() {
  release();
  resetSearch();
}

// The three pin states. Callers disable interrupts around timed sequences.
void OneWireBus::low() {
  *out_ &= ~mask_;
  *mode_ |= mask_;
}

void OneWireBus::release() {
  *mode_ &= ~mask_;
  *out_ &= ~mask_;  // no internal pull-up: the 4.7 kOhm resistor does it
}

bool OneWireBus::level() const { return (*in_ & mask_) != 0; }

void OneWireBus::power(bool on) {
  uint8_t sreg = SREG;
  cli();
  if (on) {
    *out_ |= mask_;
    *mode_ |= mask_;
  } else {
    release();
  }
  SREG = sreg;
}

OneWireBus::Presence OneWireBus::reset() {
  uint8_t sreg = SREG;
  cli();
  release();
  SREG = sreg;
  // A line that stays low for 250 us is not a bus a device could answer on.
  uint8_t retries = 125;
  while (!level()) {
    if (--retries == 0) return SHORTED;
    delayMicroseconds(2);
  }
  cli();
  low();
  SREG = sreg;
  delayMicroseconds(480);
  cli();
  release();
  delayMicroseconds(70);
  bool present = !level();
  SREG = sreg;
  delayMicroseconds(410);
  return present ? PRESENT : ABSENT;
}

void OneWireBus::writeBit(bool bit) {
  uint8_t sreg = SREG;
  cli();
  low();
  delayMicroseconds(bit ? 10 : 65);
  release();
  SREG = sreg;
  delayMicroseconds(bit ? 55 : 5);
}

bool OneWireBus::readBit() {
  uint8_t sreg = SREG;
  cli();
  low();
  delayMicroseconds(3);
  release();
  delayMicroseconds(10);
  bool bit = level();
  SREG = sreg;
  delayMicroseconds(53);
  return bit;
}

void OneWireBus::write(uint8_t value) {
  for (uint8_t mask = 0x01; mask; mask <<= 1) writeBit(value & mask);
}

uint8_t OneWireBus::read() {
  uint8_t value = 0;
  for (uint8_t mask = 0x01; mask; mask <<= 1) {
    if (readBit()) value |= mask;
  }
  return value;
}

void OneWireBus::select(const uint8_t rom[8]) {
  write(0x55);
  for (uint8_t i = 0; i < 8; i++) write(rom[i]);
}

void OneWireBus::skip() { write(0xCC); }

void OneWireBus::resetSearch() {
  lastDiscrepancy_ = 0;
  lastDevice_ = false;
  for (uint8_t i = 0; i < 8; i++) rom_[i] = 0;
}

bool OneWireBus::search(uint8_t rom[8]) {
  if (lastDevice_ || reset() != PRESENT) {
    resetSearch();
    return false;
  }
  write(0xF0);
  uint8_t bitNumber = 1;
  uint8_t lastZero = 0;
  for (uint8_t byteIndex = 0; byteIndex < 8; byteIndex++) {
    for (uint8_t mask = 0x01; mask; mask <<= 1, bitNumber++) {
      bool bit = readBit();
      bool complement = readBit();
      if (bit && complement) {  // nobody left answering: a device went away mid-search
        resetSearch();
        return false;
      }
      bool direction;
      if (bit != complement) {
        direction = bit;  // every remaining device agrees on this bit
      } else if (bitNumber < lastDiscrepancy_) {
        direction = (rom_[byteIndex] & mask) != 0;  // same branch as last time
      } else {
        direction = bitNumber == lastDiscrepancy_;  // take the 1 branch this time
      }
      if (bit == complement && !direction) lastZero = bitNumber;
      if (direction) {
        rom_[byteIndex] |= mask;
      } else {
        rom_[byteIndex] &= ~mask;
      }
      writeBit(direction);
    }
  }
  lastDiscrepancy_ = lastZero;
  if (lastDiscrepancy_ == 0) lastDevice_ = true;
  if (rom_[0] == 0) {  // a line held low reads as all zeros, which passes the CRC
    resetSearch();
    return false;
  }
  for (uint8_t i = 0; i < 8; i++) rom[i] = rom_[i];
  return true;
}
