// Imported once by the generic runtime at start so the first specialisation finds the module loader warm.
'use strict';
module.exports = async () => 'warm';
