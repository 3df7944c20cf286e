// The sagabus wire format (docs/wire-format.md) on the stock amqplib client.
'use strict';

const { randomUUID } = require('node:crypto');

// AMQP properties and headers of one message, as sagabus writes and reads them.
function properties(type, kind, { correlationId, causationId } = {}) {
  const headers = { version: 1, kind };
  if (causationId) headers.causation_id = causationId;
  return {
    messageId: randomUUID(),
    type,
    correlationId,
    timestamp: Math.floor(Date.now() / 1000),
    contentType: 'application/json',
    deliveryMode: 2,
    headers,
  };
}

function body(payload) {
  return Buffer.from(JSON.stringify(payload));
}

// Publishes and waits for the broker's confirm; a command no queue takes is an error.
async function publish(channel, exchange, type, kind, payload, ids = {}) {
  const props = properties(type, kind, ids);
  const mandatory = kind === 'command';
  await new Promise((resolve, reject) => {
    const onReturn = (msg) => {
      if (msg.properties.messageId === props.messageId) {
        reject(new Error(`no queue is bound for ${type} on ${exchange}`));
      }
    };
    channel.once('return', onReturn);
    channel.publish(exchange, type, body(payload), { ...props, mandatory }, (err) => {
      channel.removeListener('return', onReturn);
      if (err) reject(err); else setImmediate(resolve);
    });
  });
  return props;
}

module.exports = { properties, body, publish };
