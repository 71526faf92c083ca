//! One price level as stored in the book.

use super::fixed::{Decimal, Fixed};

/// Price and quantity as fixed point, with the fraction digits each was
/// written with so the exchange's text can be reproduced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Level {
    pub price: Fixed,
    pub qty: Fixed,
    pub price_places: u8,
    pub qty_places: u8,
}

impl Level {
    pub fn new(price: Decimal, qty: Decimal) -> Self {
        Level {
            price: price.value,
            qty: qty.value,
            price_places: price.places,
            qty_places: qty.places,
        }
    }

    pub fn price(&self) -> Decimal {
        Decimal {
            value: self.price,
            places: self.price_places,
        }
    }

    pub fn qty(&self) -> Decimal {
        Decimal {
            value: self.qty,
            places: self.qty_places,
        }
    }
}
