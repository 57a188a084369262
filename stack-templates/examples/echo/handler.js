'use strict';

// echo answers with what it was sent: the body, the method, the path and the query, plus which instance served it.
module.exports = async (event, context) => {
  return context.status(200).succeed({
    method: event.method,
    path: event.path,
    query: event.query,
    body: Buffer.isBuffer(event.body) ? event.body.toString() : event.body,
    instance: process.env.HYPERFAAS_INSTANCE_ID || '',
  });
};
