/* Stub of the Crazyflie firmware's src/deck/interface/deck.h (see README.md): the deck pins and analogRead. */
#pragma once

#include <stdint.h>

typedef struct {
    uint8_t id;
} deckPin_t;

extern const deckPin_t DECK_GPIO_TX2;
extern const deckPin_t DECK_GPIO_RX2;
extern const deckPin_t DECK_GPIO_SCK;
extern const deckPin_t DECK_GPIO_MISO;
extern const deckPin_t DECK_GPIO_MOSI;

uint16_t analogRead(const deckPin_t pin);
