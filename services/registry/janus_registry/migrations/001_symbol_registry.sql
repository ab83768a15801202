-- The canonical symbol registry. One row per canonical symbol; broker fields are nullable
-- because they are filled over time (config, look-up, holdings, harmony) and never overwritten.
-- provenance: field name -> {"by": config|lookup|holdings|harmony, "at": ns since the epoch}.
CREATE TABLE symbol_registry (
    symbol              text PRIMARY KEY,
    asset_class         text NOT NULL
        CHECK (asset_class IN ('EQUITY', 'FOREX', 'FUTURE', 'OPTION', 'CRYPTO')),
    exchange            text,
    currency            text,
    ib_symbol           text,
    ib_sec_type         text,
    ib_exchange         text,
    ib_primary_exchange text,
    ib_currency         text,
    ib_con_id           bigint,
    ib_contract_month   text CHECK (ib_contract_month ~ '^[0-9]{6}$'),
    ib_last_trade_date  text CHECK (ib_last_trade_date ~ '^[0-9]{8}$'),
    ib_multiplier       double precision,
    ib_trading_class    text,
    ib_local_symbol     text,
    webull_symbol       text,
    webull_market       text,
    webull_category     text,
    webull_instrument_id text,
    provenance          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Not unique: a wrong look-up must not be able to abort a whole harmony run on a conflict.
CREATE INDEX symbol_registry_ib_con_id ON symbol_registry (ib_con_id) WHERE ib_con_id IS NOT NULL;
