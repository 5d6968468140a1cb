"""The touchscreen kiosk: public information, staff ratings and complaints, for the hall lobby."""
